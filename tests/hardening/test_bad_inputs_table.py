"""Hostile and careless inputs across all nine commands: each is refused with exit status 2 and exactly
one line on stderr (``error: ...``), never a traceback, never raw bytes of the input on the terminal.

The table is the evidence behind docs/reliability.md ("Bad input"): its length is the number of bad
inputs tried. A case is (command line, a phrase the one line must contain); ``{name}`` in an argument is
a file of :data:`FILES` (or a folder made by the ``bad`` fixture).
"""

from __future__ import annotations

import gzip
import json
import struct

from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.config import RunConfig

pytestmark = pytest.mark.hardening

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]

HUGE = "9" * 400
SEED_64 = str(2**64)


def _result(**change) -> dict:
    """A small, valid result file's contents (depth 2: two layers, two recorded steps), with ``change``."""
    layers = [{"name": f"{i}", "type": "Linear", "shape": [4, 4], "n_params": 20, "activation": "tanh"}
              for i in (0, 2)]
    trace = {"format": "vanishing.trace/1", "steps": [0, 1], "layers": layers,
             "data": {"grad_norm": [[1.0, 2.0], [1.0, 2.0]]}, "scalars": {"loss": [1.0, 0.5]}, "meta": {}}
    summary = {"steps_done": 2, "diverged": False, "final_loss": 0.5, "duration_s": 0.1}
    d = {"version": 2, "config": RunConfig.make(depth=2, width=4).model_dump(), "command": "", "dataset": {}, "summary": summary,
         "diagnosis": None, "trace": trace}
    for path, value in change.items():
        *outer, last = path.split("__")
        node = d
        for key in outer:
            node = node[key]
        if value is _DROP:
            del node[last]
        else:
            node[last] = value
    return d


_DROP = object()


def _idx(dims, code=0x08, data=b""):
    return b"\x00\x00" + bytes([code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + data


def _json(d) -> bytes:
    return json.dumps(d).encode()


FILES: dict[str, bytes] = {
    "binary.yaml": b"depth: 3\n\xff\xfe\x00\x01\x1b[31m",
    "png.yaml": b"\x89PNG\r\n\x1a\n\x00\x00",
    "empty.yaml": b"",
    "list.yaml": b"- 1\n- 2\n",
    "deep.yaml": b"[" * 5000 + b"]" * 5000,
    "unknown_key.yaml": b"depht: 3\n",
    "bad_value.yaml": b"depth: -3\n",
    "seed.yaml": f"seed: {2**70}\n".encode(),
    "tab.yaml": b"depth:\t[1, 2\n",
    "ansi_key.yaml": b"\"\\e[31mdepth\": 3\n",
    # sweep specs
    "spec_binary.yaml": b"grid:\n  depth: [1, 2]\n\xff\xfe",
    "spec_list.yaml": b"- grid\n",
    "spec_unknown.yaml": b"grdi:\n  depth: [1]\n",
    "spec_grid_scalar.yaml": b"grid:\n  depth: 3\n",
    "spec_grid_bad.yaml": b"grid:\n  depth: [3, -1]\n",
    "spec_grid_field.yaml": b"grid:\n  colour: [red]\n",
    "spec_seeds_zero.yaml": b"seeds: 0\n",
    "spec_seeds_str.yaml": b"seeds: many\n",
    "spec_seeds_huge.yaml": f"seeds: [{2**70}]\n".encode(),
    "spec_random_n.yaml": b"random:\n  n: -1\n  fields:\n    lr: {uniform: [0.1, 1]}\n",
    "spec_random_dist.yaml": b"random:\n  n: 2\n  fields:\n    lr: {gaussian: [0, 1]}\n",
    "spec_random_range.yaml": b"random:\n  n: 2\n  fields:\n    lr: {log_uniform: [0, 1]}\n",
    "spec_base_missing.yaml": b"base: no-such-file.yaml\n",
    "spec_base_bad.yaml": b"base:\n  activation: nope\n",
    "spec_name.yaml": b"name: ''\n",
    "spec_empty.yaml": b"",
    "spec_overflow.yaml": b"grid:\n  activation: ['elu:alpha=1e300']\n",
    "spec_repeated.yaml": b"grid:\n  init: ['normal:std=1:std=2']\n",
    "spec_huge.yaml": ("grid:\n" + "".join(f"  {k}: [{', '.join(str(v) for v in range(1, 101))}]\n"
                                           for k in ("depth", "width", "batch_size", "steps", "record_every",
                                                     "seed"))).encode(),
    # results
    "result_ok.json": _json(_result()),
    "result_binary.json": b"{\"version\": 2, \xff\xfe}",
    "result_text.json": b"hello",
    "result_list.json": b"[1, 2]",
    "result_deep.json": b"[" * 100_000 + b"]" * 100_000,
    "result_deep_object.json": b"{\"a\": " * 5000 + b"1" + b"}" * 5000,
    "result_version.json": _json(_result(version=99)),
    "result_no_trace.json": _json(_result(trace=_DROP)),
    "result_no_layers.json": _json(_result(trace__layers=_DROP)),
    "result_layers_scalar.json": _json(_result(trace__layers=3)),
    "result_layer_fields.json": _json(_result(trace__layers=[{"name": "0"}, {"name": "2"}])),
    "result_shape_rows.json": _json(_result(trace__data={"grad_norm": [[1.0, 2.0]]})),
    "result_shape_cols.json": _json(_result(trace__data={"grad_norm": [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]})),
    "result_shape_transposed.json": _json(_result(trace__steps=[0, 1, 2, 3],
                                                  trace__data={"grad_norm": [[1.0] * 4, [2.0] * 4]},
                                                  trace__scalars={})),
    "result_ragged.json": _json(_result(trace__data={"grad_norm": [[1.0, 2.0], [1.0]]})),
    "result_text_values.json": _json(_result(trace__data={"grad_norm": [["a", "b"], ["c", "d"]]})),
    "result_scalar_shape.json": _json(_result(trace__scalars={"loss": [1.0, 0.5, 0.2]})),
    "result_steps_text.json": _json(_result(trace__steps=["a", "b"])),
    "result_steps_nested.json": _json(_result(trace__steps=[[0], [1]])),
    "result_data_list.json": _json(_result(trace__data=[1, 2])),
    "result_summary_text.json": _json(_result(summary="fine")),
    "result_loss_text.json": _json(_result(summary__final_loss="low")),
    "result_config_list.json": _json(_result(config=[1, 2])),
    "result_config_bad.json": _json(_result(config__depth="deep")),
    "result_format.json": _json(_result(trace__format="other/9")),
    "result_huge_int.json": _json(_result(trace__steps=[0, 10**400])),
    "result_ansi.json": _json(_result(version="\x1b[2J\x00")),
    "result_layer_shape.json": _json(_result(trace__layers=[{"name": "0", "type": "Linear", "shape": "big",
                                                             "n_params": 1}] * 2)),
    "result_meta_list.json": _json(_result(trace__meta=[1])),
    # IDX data
    "idx_lying.gz": gzip.compress(_idx((60000, 28, 28), data=bytes(10))),
    # factory files
    "factory_binary.py": b"\xff\xfe\x00 def f(): pass",
    "factory_syntax.py": b"def f(:\n",
    "factory_raises.py": b"def f():\n    raise RuntimeError('boom\\nsecond line')\n",
    "factory_none.py": b"def f():\n    return None\n",
    "factory_import.py": b"import no_such_module_vanishing\ndef f(): pass\n",
    "factory_exit.py": b"import sys\nsys.exit(3)\n",
    "factory_notfn.py": b"f = 3\n",
    # stores
    "store_text.db": b"not a database at all\n",
    "store_binary.db": bytes(range(256)) * 8,
}


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    for name, data in FILES.items():
        (root / name).write_bytes(data)
    (root / "big.yaml").write_bytes(b"")
    with open(root / "big.yaml", "r+b") as f:  # sparse: 2 MiB of zeros, nothing on disk
        f.truncate(2 << 20)
    with open(root / "result_big.json", "wb") as f:
        f.truncate(1 << 40)  # a sparse terabyte: refused by its size, never read
    (root / "folder").mkdir()
    idx = root / "idx"
    idx.mkdir()
    (idx / "train-images-idx3-ubyte.gz").write_bytes(FILES["idx_lying.gz"])
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (idx / name).write_bytes(_idx((1,), data=b"\x00"))
    from vanishing.experiments.store import Store

    with Store(root / "empty_store.db"):
        pass
    return root


RUN = ["run", "--steps", "1"]

CASES: list[tuple[str, list[str], str]] = [
    # --- run: flags -------------------------------------------------------------------------------
    ("run seed 2**64", RUN + ["--seed", SEED_64], f"invalid seed {SEED_64}"),
    ("run seed 2**70", RUN + ["--seed", str(2**70)], "invalid seed"),
    ("run seed 400 digits", RUN + ["--seed", HUGE], "invalid seed"),
    ("run seed -1", RUN + ["--seed", "-1"], "invalid seed -1"),
    ("run seed text", RUN + ["--seed", "abc"], "--seed 'abc': an integer"),
    ("run depth 0", RUN + ["--depth", "0"], "invalid depth 0"),
    ("run depth 100 000", RUN + ["--depth", "100000"], "invalid depth 100000"),
    ("run depth 10**30", RUN + ["--depth", "1" + "0" * 30], "invalid depth"),
    ("run width -5", RUN + ["--width", "-5"], "invalid width -5"),
    ("run width 10**9", RUN + ["--width", "1000000000"], "available"),
    ("run batch 0", RUN + ["--batch-size", "0"], "invalid batch_size 0"),
    ("run steps 0", ["run", "--steps", "0"], "invalid steps 0"),
    ("run record_every 0", RUN + ["--record-every", "0"], "invalid record_every 0"),
    ("run lr nan", RUN + ["--lr", "nan"], "invalid lr nan"),
    ("run lr -1", RUN + ["--lr", "-1"], "invalid lr -1"),
    ("run lr inf", RUN + ["--lr", "inf"], "invalid lr inf"),
    ("run lr 1e999", RUN + ["--lr", "1e999"], "invalid lr inf"),
    ("run lr text", RUN + ["--lr", "fast"], "--lr 'fast': a number"),
    ("run activation unknown", RUN + ["--activation", "swish2"], "invalid activation 'swish2'"),
    ("run activation empty", RUN + ["--activation", ""], "invalid activation ''"),
    ("run activation ansi", RUN + ["--activation", "relu\x1b[31m"], r"'relu\x1b[31m'"),
    ("run activation newline", RUN + ["--activation", "relu\nrm -rf"], r"'relu\nrm -rf'"),
    ("run activation rtl", RUN + ["--activation", "re\u202elu"], r"\u202e"),
    ("run activation 10k chars", RUN + ["--activation", "x" * 10_000], "(10000 characters)"),
    ("run elu alpha 1e300", RUN + ["--activation", "elu:alpha=1e300"], "invalid activation elu parameter alpha 1e+300"),
    ("run elu alpha nan", RUN + ["--activation", "elu:alpha=nan"], "alpha"),
    ("run softplus beta 1e-320", RUN + ["--activation", "softplus:beta=1e-320"], "beta"),
    ("run leaky slope 1e308", RUN + ["--activation", "leaky_relu:negative_slope=1e308"], "negative_slope"),
    ("run activation unknown key", RUN + ["--activation", "elu:beta=1"], "elu"),
    ("run init repeated key ':'", RUN + ["--init", "normal:std=1:std=2"], "repeated 'std'"),
    ("run init repeated key ','", RUN + ["--init", "normal:std=1,std=2"], "repeated 'std'"),
    ("run init std 1e300", RUN + ["--init", "normal:std=1e300"], "invalid init normal std 1e+300"),
    ("run init std text", RUN + ["--init", "normal:std=big"], "invalid init normal std 'big'"),
    ("run init gain 400 digits", RUN + ["--init", f"orthogonal:gain={HUGE}"], "invalid init orthogonal gain"),
    ("run init trailing comma", RUN + ["--init", "normal:std=1,"], "invalid init"),
    ("run init empty key", RUN + ["--init", "normal:=1"], "invalid init"),
    ("run bias constant 1e308", RUN + ["--bias-init", "constant:value=1e308"], "invalid init constant value"),
    ("run norm unknown", RUN + ["--norm", "group"], "invalid norm 'group'"),
    ("run optimizer unknown", RUN + ["--optimizer", "lion"], "invalid optimizer 'lion'"),
    ("run device unknown", RUN + ["--device", "tpu"], "invalid device 'tpu'"),
    ("run dataset unknown", RUN + ["--dataset", "imagenet"], "invalid dataset 'imagenet'"),
    ("run dataset repeated key", RUN + ["--dataset", "spirals:n=100,n=200"], "repeated 'n'"),
    ("run dataset noise 400 digits", RUN + ["--dataset", f"spirals:noise={HUGE}"], "noise"),
    ("run dataset idx missing", RUN + ["--dataset", "idx:path=/no/such/folder"], "/no/such/folder"),
    ("run dataset idx lying header", RUN + ["--dataset", "idx:path={idx}"], "train-images-idx3-ubyte.gz"),
    ("run threads 0", RUN + ["--threads", "0"], "threads"),
    ("run threads -3", RUN + ["--threads", "-3"], "threads"),
    ("run threads 10**9 (OpenMP aborted)", RUN + ["--threads", "1000000000"], "invalid threads 1000000000"),
    ("run steps 10**18", ["run", "--steps", "1" + "0" * 18], "reduce steps, or record less often"),
    ("run unknown flag", RUN + ["--deepth", "3"], "--deepth: no such option"),
    ("run flag without value", ["run", "--depth"], "--depth: needs a value"),
    ("run json into a folder", RUN + ["--json", "{folder}"], "it is a folder"),
    ("run json unwritable", RUN + ["--json", "/proc/vanishing/x.json"], "cannot write result"),
    ("run report unwritable", RUN + ["--report", "/proc/vanishing/x.html"], "cannot write report"),
    # --- run: config files -----------------------------------------------------------------------
    ("run config non-UTF-8", RUN + ["--config", "{binary.yaml}"], "a UTF-8 YAML file"),
    ("run config PNG", RUN + ["--config", "{png.yaml}"], "a UTF-8 YAML file"),
    ("run config list", RUN + ["--config", "{list.yaml}"], "a YAML mapping"),
    ("run config nested 5000 deep", RUN + ["--config", "{deep.yaml}"], "nested too deeply"),
    ("run config 2 MiB", RUN + ["--config", "{big.yaml}"], "at most 1 MiB"),
    ("run config /dev/zero", RUN + ["--config", "/dev/zero"], "at most 1 MiB"),
    ("run config missing", RUN + ["--config", "/no/such/config.yaml"], "a readable YAML file"),
    ("run config a folder", RUN + ["--config", "{folder}"], "a readable YAML file"),
    ("run config unknown key", RUN + ["--config", "{unknown_key.yaml}"], "depht"),
    ("run config bad value", RUN + ["--config", "{bad_value.yaml}"], "invalid depth -3"),
    ("run config seed 2**70", RUN + ["--config", "{seed.yaml}"], "invalid seed"),
    ("run config tab", RUN + ["--config", "{tab.yaml}"], "valid YAML"),
    ("run config ansi key", RUN + ["--config", "{ansi_key.yaml}"], r"\x1b"),
    # --- demo ------------------------------------------------------------------------------------
    ("demo seed 2**64", ["demo", "--seed", SEED_64, "--no-report"], f"invalid seed {SEED_64}"),
    ("demo seed -1", ["demo", "--seed", "-1", "--no-report"], "invalid seed -1"),
    ("demo steps 0", ["demo", "--steps", "0", "--no-report"], "invalid steps 0"),
    ("demo steps 10**18", ["demo", "--steps", "1" + "0" * 18, "--no-report"], "reduce steps"),
    ("demo steps text", ["demo", "--steps", "ten"], "--steps 'ten': an integer"),
    ("demo report into a folder", ["demo", "--steps", "1", "--report", "{folder}"], "it is a folder"),
    ("demo json-dir is a file", ["demo", "--steps", "1", "--no-report", "--json-dir", "{png.yaml}"], "png.yaml"),
    # --- theory ----------------------------------------------------------------------------------
    ("theory activation unknown", ["theory", "--activation", "nope"], "invalid activation 'nope'"),
    ("theory elu alpha 1e300", ["theory", "--activation", "elu:alpha=1e300"], "alpha 1e+300"),
    ("theory sigma_w2 nan", ["theory", "--sigma-w2", "nan"], "sigma"),
    ("theory sigma_w2 -1", ["theory", "--sigma-w2", "-1"], "sigma"),
    ("theory sigma_w2 inf", ["theory", "--sigma-w2", "inf"], "sigma"),
    ("theory sigma_w2 1e308", ["theory", "--sigma-w2", "1e308"], "sigma"),
    ("theory sigma_b2 nan", ["theory", "--sigma-b2", "nan"], "sigma"),
    ("theory sigma_b2 -1", ["theory", "--sigma-b2", "-1"], "sigma"),
    ("theory depth 0", ["theory", "--sigma-w2", "1", "--depth", "0"], "depth"),
    ("theory depth -5", ["theory", "--sigma-w2", "1", "--depth", "-5"], "depth"),
    ("theory phase diagram without --out", ["theory", "--phase-diagram"], "--out"),
    ("theory out suffix", ["theory", "--phase-diagram", "--out", "x.gif"], "x.gif"),
    # --- diagnose --------------------------------------------------------------------------------
    ("diagnose lr nan", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--lr", "nan"], "invalid lr nan"),
    ("diagnose lr -1", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--lr", "-1"], "invalid lr -1"),
    ("diagnose lr inf", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--lr", "inf"], "invalid lr inf"),
    ("diagnose steps 0", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--steps", "0"], "steps"),
    ("diagnose steps -1", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--steps", "-1"], "steps"),
    ("diagnose no colon", ["diagnose", "nothing"], "invalid factory 'nothing'"),
    ("diagnose two colons (an emoji code to rich)", ["diagnose", "a:b:c"], "invalid factory 'a:b:c'"),
    ("diagnose rich markup", ["diagnose", "[bold]x[/]"], "invalid factory '[bold]x[/]'"),
    ("diagnose no module", ["diagnose", "no_such_module_vanishing:f"], "cannot import"),
    ("diagnose no file", ["diagnose", "/no/such/file.py:f"], "no file"),
    ("diagnose binary file", ["diagnose", "{factory_binary.py}:f"], "factory"),
    ("diagnose syntax error", ["diagnose", "{factory_syntax.py}:f"], "factory"),
    ("diagnose import error inside", ["diagnose", "{factory_import.py}:f"], "no_such_module_vanishing"),
    ("diagnose module exits", ["diagnose", "{factory_exit.py}:f"], "factory"),
    ("diagnose not a function", ["diagnose", "{factory_notfn.py}:f"], "no function f"),
    ("diagnose factory raises", ["diagnose", "{factory_raises.py}:f"], "boom"),
    ("diagnose factory returns None", ["diagnose", "{factory_none.py}:f"], "factory"),
    ("diagnose ansi factory", ["diagnose", "x\x1b[31m:f"], r"\x1b"),
    ("diagnose json into a folder", ["diagnose", "examples/diagnose_model.py:relu_cnn", "--json", "{folder}"],
     "it is a folder"),
    # --- report / compare ------------------------------------------------------------------------
    ("report missing file", ["report", "/no/such/result.json"], "a readable file"),
    ("report a folder", ["report", "{folder}"], "result file"),
    ("report a terabyte", ["report", "{result_big.json}"], "at most"),
    ("report non-UTF-8", ["report", "{result_binary.json}"], "UTF-8"),
    ("report not JSON", ["report", "{result_text.json}"], "valid JSON"),
    ("report a list", ["report", "{result_list.json}"], "a JSON object"),
    ("report nested 100 000 deep", ["report", "{result_deep.json}"], "nested"),
    ("report objects nested 5000 deep", ["report", "{result_deep_object.json}"], "nested"),
    ("report version 99", ["report", "{result_version.json}"], "version"),
    ("report ansi version", ["report", "{result_ansi.json}"], r"\x1b[2J"),
    ("report no trace", ["report", "{result_no_trace.json}"], "trace"),
    ("report no layers", ["report", "{result_no_layers.json}"], "layers"),
    ("report layers a number", ["report", "{result_layers_scalar.json}"], "layers"),
    ("report layer without fields", ["report", "{result_layer_fields.json}"], "layers"),
    ("report layer shape text", ["report", "{result_layer_shape.json}"], "shape"),
    ("report fewer rows than steps", ["report", "{result_shape_rows.json}"], "grad_norm"),
    ("report more columns than layers", ["report", "{result_shape_cols.json}"], "grad_norm"),
    ("report transposed data", ["report", "{result_shape_transposed.json}"], "grad_norm"),
    ("report ragged rows", ["report", "{result_ragged.json}"], "grad_norm"),
    ("report text values", ["report", "{result_text_values.json}"], "grad_norm"),
    ("report scalar length", ["report", "{result_scalar_shape.json}"], "loss"),
    ("report steps text", ["report", "{result_steps_text.json}"], "steps"),
    ("report steps nested", ["report", "{result_steps_nested.json}"], "steps"),
    ("report steps 400 digits", ["report", "{result_huge_int.json}"], "steps"),
    ("report data a list", ["report", "{result_data_list.json}"], "data"),
    ("report summary text", ["report", "{result_summary_text.json}"], "summary"),
    ("report loss text", ["report", "{result_loss_text.json}"], "final_loss"),
    ("report config not a run config", ["report", "{result_config_bad.json}"], "config: invalid depth 'deep'"),
    ("report config a list", ["report", "{result_config_list.json}"], "config"),
    ("report trace format", ["report", "{result_format.json}"], "format"),
    ("report meta a list", ["report", "{result_meta_list.json}"], "meta"),
    ("report out into a folder", ["report", "{result_ok.json}", "--out", "{folder}"], "cannot write report"),
    ("compare first missing", ["compare", "/no/a.json", "{result_text.json}"], "/no/a.json"),
    ("compare second non-UTF-8", ["compare", "{result_list.json}", "{result_binary.json}"], "a JSON object"),
    ("compare /dev/null", ["compare", "/dev/null", "/dev/null"], "valid JSON"),
    ("compare nested", ["compare", "{result_deep.json}", "{result_deep.json}"], "nested"),
    ("compare shapes", ["compare", "{result_shape_cols.json}", "{result_shape_rows.json}"], "grad_norm"),
    # --- sweep -----------------------------------------------------------------------------------
    ("sweep spec missing", ["sweep", "/no/spec.yaml", "--dry-run"], "sweep spec"),
    ("sweep spec non-UTF-8", ["sweep", "{spec_binary.yaml}", "--dry-run"], "UTF-8"),
    ("sweep spec a folder", ["sweep", "{folder}", "--dry-run"], "sweep spec"),
    ("sweep spec /dev/zero", ["sweep", "/dev/zero", "--dry-run"], "at most 1 MiB"),
    ("sweep spec empty", ["sweep", "{spec_empty.yaml}", "--dry-run"], "empty"),
    ("sweep spec a list", ["sweep", "{spec_list.yaml}", "--dry-run"], "sweep spec"),
    ("sweep spec nested", ["sweep", "{deep.yaml}", "--dry-run"], "nested too deeply"),
    ("sweep spec 2 MiB", ["sweep", "{big.yaml}", "--dry-run"], "at most 1 MiB"),
    ("sweep unknown key", ["sweep", "{spec_unknown.yaml}", "--dry-run"], "invalid sweep key 'grdi'"),
    ("sweep grid scalar", ["sweep", "{spec_grid_scalar.yaml}", "--dry-run"], "grid.depth"),
    ("sweep grid bad value", ["sweep", "{spec_grid_bad.yaml}", "--dry-run"], "grid.depth[1]"),
    ("sweep grid unknown field", ["sweep", "{spec_grid_field.yaml}", "--dry-run"], "colour"),
    ("sweep seeds 0", ["sweep", "{spec_seeds_zero.yaml}", "--dry-run"], "seeds"),
    ("sweep seeds text", ["sweep", "{spec_seeds_str.yaml}", "--dry-run"], "seeds"),
    ("sweep seeds 2**70", ["sweep", "{spec_seeds_huge.yaml}", "--dry-run"], "seed"),
    ("sweep random n -1", ["sweep", "{spec_random_n.yaml}", "--dry-run"], "random.n"),
    ("sweep random unknown distribution", ["sweep", "{spec_random_dist.yaml}", "--dry-run"], "gaussian"),
    ("sweep random log range at 0", ["sweep", "{spec_random_range.yaml}", "--dry-run"], "low > 0"),
    ("sweep base file missing", ["sweep", "{spec_base_missing.yaml}", "--dry-run"], "no-such-file.yaml"),
    ("sweep base bad value", ["sweep", "{spec_base_bad.yaml}", "--dry-run"], "base.activation"),
    ("sweep name empty", ["sweep", "{spec_name.yaml}", "--dry-run"], "invalid name"),
    ("sweep overflowing activation", ["sweep", "{spec_overflow.yaml}", "--dry-run"], "alpha"),
    ("sweep repeated spec key", ["sweep", "{spec_repeated.yaml}", "--dry-run"], "repeated 'std'"),
    ("sweep 10**12 runs", ["sweep", "{spec_huge.yaml}", "--store", "{folder}/s.db"], "--max-runs"),
    ("sweep max-runs 0", ["sweep", "{spec_grid_bad.yaml}", "--max-runs", "0"], "max-runs"),
    ("sweep workers 0", ["sweep", "examples/sweeps/seed_grid.yaml", "--workers", "0", "--dry-run"], "workers"),
    ("sweep executor unknown", ["sweep", "examples/sweeps/seed_grid.yaml", "--executor", "slurm"], "slurm"),
    ("sweep store is text", ["sweep", "examples/sweeps/seed_grid.yaml", "--store", "{store_text.db}",
                             "--dry-run"], "store_text.db"),
    ("sweep store is binary", ["sweep", "examples/sweeps/seed_grid.yaml", "--store", "{store_binary.db}",
                               "--dry-run"], "store_binary.db"),
    ("sweep store a folder", ["sweep", "examples/sweeps/seed_grid.yaml", "--store", "{folder}", "--dry-run"],
     "folder"),
    # --- results / plot --------------------------------------------------------------------------
    ("results store missing", ["results", "/no/such.db"], "/no/such.db"),
    ("results store /dev/null", ["results", "/dev/null"], "not a vanishing results store"),
    ("results store is text", ["results", "{store_text.db}"], "store_text.db"),
    ("results store is binary", ["results", "{store_binary.db}"], "store_binary.db"),
    ("results where garbage", ["results", "{empty_store.db}", "--where", "depth ~~ 3"], "where"),
    ("results where ansi", ["results", "{empty_store.db}", "--where", "depth=\x1b[31m"], r"\x1b"),
    ("results format unknown", ["results", "{empty_store.db}", "--format", "xml"], "xml"),
    ("results parquet without out", ["results", "{empty_store.db}", "--format", "parquet"], "--out"),
    ("plot store missing", ["plot", "/no/such.db", "--value", "vanishing_orders", "--x", "init", "--y", "depth",
                            "--out", "{folder}/p.png"], "/no/such.db"),
    ("plot store binary", ["plot", "{store_binary.db}", "--value", "x", "--x", "init", "--y", "depth",
                           "--out", "{folder}/p.png"], "store_binary.db"),
    ("plot out suffix", ["plot", "{empty_store.db}", "--value", "x", "--x", "init", "--y", "depth",
                         "--out", "p.gif"], "p.gif"),
    ("plot agg unknown", ["plot", "{empty_store.db}", "--value", "x", "--x", "init", "--y", "depth",
                          "--agg", "mode", "--out", "{folder}/p.png"], "mode"),
    ("plot missing y", ["plot", "{empty_store.db}", "--value", "x", "--x", "init", "--out", "{folder}/p.png"],
     "--y"),
    ("plot where garbage", ["plot", "{empty_store.db}", "--value", "x", "--x", "init", "--y", "depth",
                            "--where", "(((", "--out", "{folder}/p.png"], "where"),
    ("plot facet with phase diagram", ["plot", "{empty_store.db}", "--value", "x", "--phase-diagram",
                                       "--facet", "init", "--out", "{folder}/p.png"], "--facet"),
    # --- no command ------------------------------------------------------------------------------
    ("unknown command", ["swep"], "swep"),
]


def _fill(arg: str, root) -> str:
    for name in sorted(FILES, key=len, reverse=True) + ["big.yaml", "result_big.json", "folder", "idx", "empty_store.db"]:
        arg = arg.replace("{" + name + "}", str(root / name))
    return arg


@pytest.mark.parametrize("args,phrase", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_on_stderr_with_exit_2(bad, args, phrase, monkeypatch):
    monkeypatch.chdir(REPO)  # examples/ is read from the repository
    res = runner.invoke(app, [_fill(a, bad) for a in args])
    shown = f"exit {res.exit_code}\nstdout: {res.stdout!r}\nstderr: {res.stderr!r}\n{res.exception!r}"
    assert res.exit_code == 2, shown
    assert "Traceback" not in res.stderr + res.stdout, shown
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, shown
    assert lines[0].startswith("error: ") and phrase in lines[0], shown
    assert lines[0].isprintable(), shown
    assert not any(ch in res.stderr + res.stdout for ch in "\x1b\x00\xff\u202e"), shown


def test_the_table_is_long_enough():
    """docs/reliability.md quotes this count."""
    assert len(CASES) >= 100
    assert len({c[0] for c in CASES}) == len(CASES)
    commands = {c[1][0] for c in CASES}
    assert {"run", "demo", "theory", "diagnose", "report", "compare", "sweep", "results", "plot"} <= commands


def test_the_valid_result_of_the_table_is_read(bad, tmp_path):
    """The bad result files differ from this one in one part each: it must be accepted."""
    res = runner.invoke(app, ["report", str(bad / "result_ok.json"), "--out", str(tmp_path / "r.html")])
    assert res.exit_code == 0, res.stderr
    assert (tmp_path / "r.html").stat().st_size > 0
