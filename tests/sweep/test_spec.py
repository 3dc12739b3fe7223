"""Sweep specs: parsing, expansion and one-line errors that name the key path."""

import itertools
import math
import textwrap

import pytest
import yaml

from vanishing.config import RunConfig
from vanishing.errors import ConfigError
from vanishing.experiments import sweep as sweep_mod
from vanishing.experiments.sweep import SweepSpec


def parse(text, **kw):
    return SweepSpec.parse(yaml.safe_load(textwrap.dedent(text)), **kw)


def test_grid_is_the_cartesian_product_in_written_order_seeds_innermost():
    spec = parse("""
        base: {dataset: circles, steps: 5, width: 8}
        grid:
          activation: [tanh, relu]
          depth: [3, 5, 7]
        seeds: 2
    """)
    cs = spec.configs()
    expected = [(a, d, s) for a, d, s in itertools.product(["tanh", "relu"], [3, 5, 7], [0, 1])]
    assert [(c.activation, c.depth, c.seed) for c in cs] == expected
    assert all(c.dataset == "circles" and c.steps == 5 and c.width == 8 for c in cs)
    assert spec.name == "sweep" and list(spec.seeds) == [0, 1]


def test_explicit_seeds_and_duplicates_removed():
    spec = parse("""
        grid: {depth: [3, 3, 4], activation: [relu, 'relu']}
        seeds: [0, 5, 0]
    """)
    cs = spec.configs()
    assert [(c.depth, c.seed) for c in cs] == [(3, 0), (3, 5), (4, 0), (4, 5)]


def test_base_alone_is_one_run_and_empty_spec_is_defaults():
    assert parse("base: {depth: 4}").configs() == [RunConfig.make(depth=4)]
    assert SweepSpec.parse({}).configs() == [RunConfig.make()]


def test_random_samples_are_deterministic_in_range_and_crossed_with_grid():
    text = """
        grid: {activation: [tanh, relu]}
        random:
          n: 6
          seed: 3
          fields:
            lr: {log_uniform: [1e-3, 1]}
            depth: {int_uniform: [3, 30]}
            width: {int_log_uniform: [4, 64]}
            init: {choice: [he_normal, xavier_normal]}
            norm: {choice: [none, layer]}
    """
    a, b = parse(text).configs(), parse(text).configs()
    assert a == b and len(a) == 12
    assert [c.lr for c in a[:6]] == [c.lr for c in a[6:]]  # the same samples for each grid point
    for c in a:
        assert 1e-3 <= c.lr <= 1 and 3 <= c.depth <= 30 and 4 <= c.width <= 64
        assert c.init in ("he_normal", "xavier_normal")
    other = parse(text.replace("seed: 3", "seed: 4")).configs()
    assert [c.lr for c in other] != [c.lr for c in a]


def test_distributions_cover_their_range():
    import numpy as np

    rng = np.random.default_rng(0)
    d = sweep_mod.Distribution.parse("x", {"int_log_uniform": [3, 6]})
    assert {d.sample(rng) for _ in range(400)} == {3, 4, 5, 6}
    d = sweep_mod.Distribution.parse("x", {"int_uniform": [1, 2]})
    assert {d.sample(rng) for _ in range(100)} == {1, 2}
    d = sweep_mod.Distribution.parse("x", {"log_uniform": [1e-4, 1]})
    logs = [math.log10(d.sample(rng)) for _ in range(2000)]
    assert min(logs) >= -4 and max(logs) <= 0 and abs(sum(logs) / len(logs) + 2) < 0.1


def test_load_uses_the_file_stem_and_base_file(tmp_path):
    (tmp_path / "base.yaml").write_text("depth: 4\nwidth: 8\n")
    spec_file = tmp_path / "my-sweep.yaml"
    spec_file.write_text("base: base.yaml\ngrid: {activation: [tanh, relu]}\n")
    spec = SweepSpec.load(spec_file)
    assert spec.name == "my-sweep"
    assert [(c.depth, c.width) for c in spec.configs()] == [(4, 8), (4, 8)]
    assert spec.raw["base"] == {"depth": 4, "width": 8}
    spec_file.write_text("name: other\n")
    assert SweepSpec.load(spec_file).name == "other"


def test_module_docstring_example_is_a_valid_spec():
    text = sweep_mod.__doc__.split("::", 1)[1].split("Order is")[0]
    spec = SweepSpec.parse(yaml.safe_load(textwrap.dedent(text)))
    assert len(spec.configs()) == 3 * 2 * 20 * 3


@pytest.mark.parametrize("text,needle", [
    ("[1, 2]", "invalid sweep spec [1, 2]; a YAML mapping"),
    ("grids: {depth: [3]}", "invalid sweep key 'grids'; one of: name, base, grid, random, seeds"),
    ("name: ''", "invalid name ''; a non-empty string"),
    ("base: {depth: 0}", "invalid base.depth 0; an integer >= 1"),
    ("base: {colour: red}", "invalid base key 'colour'; one of: depth, width"),
    ("base: [1]", "invalid base [1]; a mapping of run settings"),
    ("grid: {depth: 3}", "invalid grid.depth 3; a non-empty list of values"),
    ("grid: {depth: []}", "invalid grid.depth []; a non-empty list"),
    ("grid: {depth: [3, -1]}", "invalid grid.depth[1] -1; an integer >= 1"),
    ("grid: {activation: [relu, swish]}", "invalid grid.activation[1] 'swish'; one of: sigmoid"),
    ("grid: {init: ['normal:std=-1']}", "invalid grid.init[0] normal std -1; a finite number >= 0"),
    ("grid: {lr: [0.1, abc]}", "invalid grid.lr[1] 'abc'; a number"),
    ("grid: {depthh: [3]}", "invalid grid key 'depthh'; one of: depth"),
    ("grid: [depth]", "invalid grid ['depth']; a mapping"),
    ("seeds: 0", "invalid seeds 0; a count >= 1"),
    ("seeds: [1, x]", "invalid seeds [1, 'x']; a count n"),
    ("seeds: true", "invalid seeds True"),
    ("seeds: 2\ngrid: {seed: [1, 2]}", "invalid seeds 2; either seeds or grid.seed, not both"),
    ("random: {n: 0, fields: {lr: {uniform: [0.1, 1]}}}", "invalid random.n 0; an integer >= 1"),
    ("random: {n: 2}", "invalid random.fields None; a mapping field"),
    ("random: {n: 2, fields: {lr: {normal: [0, 1]}}}", "invalid random.fields.lr 'normal'; one of: choice, uniform"),
    ("random: {n: 2, fields: {lr: {log_uniform: [0, 1]}}}", "invalid random.fields.lr.log_uniform [0, 1]; low > 0"),
    ("random: {n: 2, fields: {lr: {uniform: [1, 0.1]}}}", "low <= high"),
    ("random: {n: 2, fields: {lr: {uniform: [0, 1]}}}", "invalid random.fields.lr.uniform[0] 0.0; a finite number > 0"),
    ("random: {n: 2, fields: {depth: {uniform: [3, 9]}}}", "invalid random.fields.depth 'uniform'; for depth: one of: choice, int_uniform"),
    ("random: {n: 2, fields: {depth: {int_uniform: [3, 9.5]}}}", "invalid random.fields.depth.int_uniform 9.5; an integer"),
    ("random: {n: 2, fields: {activation: {choice: [relu, swish]}}}", "invalid random.fields.activation.choice[1] 'swish'"),
    ("random: {n: 2, fields: {activation: {uniform: [0, 1]}}}", "for activation: one of: choice"),
    ("random: {n: 2, fields: {width: relu}}", "invalid random.fields.width 'relu'; one of {choice: [...]"),
    ("random: {n: 2, sed: 1, fields: {lr: {uniform: [0.1, 1]}}}", "invalid random key 'sed'; one of: n, seed, fields"),
    ("grid: {depth: [3]}\nrandom: {n: 2, fields: {depth: {int_uniform: [3, 4]}}}",
     "invalid random.fields.depth {'int_uniform': [3, 4]}; a field not also in grid"),
])
def test_bad_specs_are_one_line_errors_naming_the_key_path(text, needle):
    with pytest.raises(ConfigError) as info:
        parse(text)
    msg = str(info.value)
    assert needle in msg and "\n" not in msg


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="invalid sweep spec .*nope.yaml.*; a readable YAML file"):
        SweepSpec.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {depth: [3\n")
    with pytest.raises(ConfigError, match=r"valid YAML \(parse error at line \d\)"):
        SweepSpec.load(bad)
    bad.write_text("")
    with pytest.raises(ConfigError, match=r"a YAML mapping with keys name, base, grid, random, seeds \(the file is empty\)"):
        SweepSpec.load(bad)
    bad.write_text("- depth: 3\n")
    with pytest.raises(ConfigError, match=r"invalid sweep spec .*bad.yaml'; a YAML mapping with keys name, base"):
        SweepSpec.load(bad)
    bad.write_text("base: missing.yaml\n")
    with pytest.raises(ConfigError, match="invalid config .*missing.yaml"):
        SweepSpec.load(bad)
