"""The spec grammar: parse_spec, format_spec, Range."""

import pytest

from vanishing.errors import ConfigError
from vanishing.spec import SEEDS, Range, Spec, format_spec, parse_spec


@pytest.mark.parametrize("text,spec", [
    ("relu", Spec("relu", {})),
    ("normal:std=0.01,mean=0", Spec("normal", {"std": 0.01, "mean": 0})),
    (" normal : std = 2 ", Spec("normal", {"std": 2})),
    ("x:flag=True,name=abc", Spec("x", {"flag": True, "name": "abc"})),
    ("idx:path=C:/data", Spec("idx", {"path": "C:/data"})),  # a ':' inside a value that starts no key
    ("normal:", Spec("normal", {})),
])
def test_parses(text, spec):
    assert parse_spec(text) == spec


def test_untyped_values_stay_as_written():
    assert parse_spec("idx:path=007,limit=5", typed=False).params == {"path": "007", "limit": "5"}


@pytest.mark.parametrize("spec", [Spec("relu", {}), Spec("normal", {"std": 0.5, "mean": -1})])
def test_format_is_the_inverse(spec):
    assert parse_spec(format_spec(spec)) == spec


@pytest.mark.parametrize("text,allowed", [
    ("normal:std=1:std=2", "each key once (repeated 'std')"),
    ("normal:std=1,std=2", "each key once (repeated 'std')"),
    ("normal:std=1, std =2", "each key once (repeated 'std')"),
    ("normal:std=1:mean=2", "parts separated by ',' (found ':' before 'mean=2')"),
    ("normal:std=1,", "(bad part '')"),
    ("normal:,std=1", "(bad part '')"),
    ("normal:=1", "(bad part '=1')"),
    ("normal:=", "(bad part '=')"),
    ("normal:std", "(bad part 'std')"),
    ("normal:std=", "(bad part 'std=')"),
    ("normal:stд=1", "(bad part 'stд=1')"),
    ("=", "a spec 'name' or 'name:key=value,...'"),
    (":std=1", "a spec 'name' or 'name:key=value,...'"),
    ("nörmal", "a spec 'name' or 'name:key=value,...'"),
    ("", "a spec 'name'"),
    ("   ", "a spec 'name'"),
])
def test_malformed_specs_are_one_line_errors(text, allowed):
    with pytest.raises(ConfigError) as err:
        parse_spec(text, "init")
    msg = str(err.value)
    assert err.value.field == "init" and err.value.value == text and allowed in err.value.allowed
    assert msg.startswith(f"invalid init {text!r}; ") and "\n" not in msg


@pytest.mark.parametrize("text", ["normal:std=1\n\x1b[31m", "normal:std=1,std=" + "9" * 100_000, "normal:\x00=1",
                                  "x" * 100_000 + ":=", "re\u2028lu", b"normal", None, 3])
def test_hostile_specs_give_a_short_printable_line(text):
    with pytest.raises(ConfigError) as err:
        parse_spec(text)
    msg = str(err.value)
    assert msg.isprintable() and len(msg) < 400


@pytest.mark.parametrize("rng,inside,outside,described", [
    (Range(0.0, 100.0), [0, 0.0, 100, 55.5], [-1e-9, 100.1, float("nan"), float("inf"), 10**400, True, "1"],
     ">= 0 and <= 100"),
    (Range(0.0, 1.0, lo_open=True), [1e-300, 1], [0, 0.0, -1], "> 0 and <= 1"),
    (Range(lo=20, multiple_of=10), [20, 30], [25, 10], ">= 20, a multiple of 10"),
    (SEEDS, [0, 2**63 - 1], [-1, 2**63, 2**70], ">= 0 and <= 9223372036854775807"),
])
def test_range(rng, inside, outside, described):
    assert rng.describe() == described
    for v in inside:
        assert rng.check("x", v) == float(v)
    for v in outside:
        with pytest.raises(ConfigError) as err:
            rng.check("x", v)
        assert err.value.allowed == f"a finite number {described}"
