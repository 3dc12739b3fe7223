"""Regression: a hostile or careless user's bad inputs at the bottom of the package (seeds beyond 64 bits,
repeated spec keys, overflowing parameters, binary/huge/deep config files, lying IDX headers, raw bytes in
messages) gave tracebacks, warnings or unbounded work. Each must be one short, printable ConfigError or
DataError naming the field and the value, raised before any numpy/torch warning."""

import gzip
import struct
import warnings

import numpy as np
import pytest

from vanishing.activations import get_activation
from vanishing.config import MAX_CONFIG_BYTES, RunConfig, load_config_file
from vanishing.data import load_dataset
from vanishing.errors import ConfigError, DataError, StoreError, VanishingError, safe_repr
from vanishing.inits import get_init
from vanishing.spec import parse_spec

HUGE = "9" * 400  # an integer no float can hold


def _one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and msg.isprintable() and len(msg) < 500, msg
    return msg


# (call, field, shown value): the message is "invalid <field> <shown value>; <allowed>"
API_CASES = {
    "seed beyond 64 bits": (lambda: RunConfig.make(seed=2**70), "seed", str(2**70)),
    "seed 2**63": (lambda: RunConfig.make(seed=2**63), "seed", str(2**63)),
    "negative seed": (lambda: RunConfig.make(seed=-1), "seed", "-1"),
    "load_dataset seed beyond 64 bits": (lambda: load_dataset("spirals", seed=2**64), "seed", str(2**64)),
    "repeated key with ':'": (lambda: RunConfig.make(init="normal:std=1:std=2"), "init", "'normal:std=1:std=2'"),
    "repeated key with ','": (lambda: RunConfig.make(init="normal:std=1,std=2"), "init", "'normal:std=1,std=2'"),
    "repeated activation key": (lambda: get_activation("elu:alpha=1,alpha=2"), "activation", "'elu:alpha=1,alpha=2'"),
    "repeated dataset key": (lambda: load_dataset("spirals:n=100,n=200"), "dataset", "'spirals:n=100,n=200'"),
    "empty key": (lambda: parse_spec("normal:=1", "init"), "init", "'normal:=1'"),
    "trailing comma": (lambda: get_init("normal:std=1,"), "init", "'normal:std=1,'"),
    "unicode name": (lambda: get_activation("rélu"), "activation", "'rélu'"),
    "text for a number": (lambda: get_init("normal:std=é"), "init normal std", "'é'"),
    "elu alpha 1e300": (lambda: get_activation("elu:alpha=1e300"), "activation elu parameter alpha", "1e+300"),
    "softplus beta 1e-320": (lambda: get_activation("softplus:beta=1e-320"), "activation softplus parameter beta",
                             "1e-320"),
    "leaky slope 1e308": (lambda: get_activation("leaky_relu:negative_slope=1e308"),
                          "activation leaky_relu parameter negative_slope", "1e+308"),
    "normal std 1e300": (lambda: get_init("normal:std=1e300"), "init normal std", "1e+300"),
    "normal mean 1e308": (lambda: get_init("normal:mean=1e308"), "init normal mean", "1e+308"),
    "variance scale 1e308": (lambda: get_init("variance_scaling:scale=1e308"), "init variance_scaling scale",
                             "1e+308"),
    "xavier gain 1e300": (lambda: get_init("xavier_normal:gain=1e300"), "init xavier_normal gain", "1e+300"),
    "orthogonal gain 400 digits": (lambda: get_init(f"orthogonal:gain={HUGE}"), "init orthogonal gain", "999"),
    "he slope 1e300": (lambda: get_init("he_normal:a=1e300"), "init he_normal a", "1e+300"),
    "bias constant 1e308": (lambda: RunConfig.make(bias_init="constant:value=1e308"), "init constant value",
                            "1e+308"),
    "config activation overflow": (lambda: RunConfig.make(activation="elu:alpha=1e300"),
                                   "activation elu parameter alpha", "1e+300"),
    "dataset float 400 digits": (lambda: load_dataset(f"spirals:noise={HUGE}"), "dataset spirals noise", "999"),
    "depth 100 000": (lambda: RunConfig.make(depth=100_000), "depth", "100000"),
    "lr nan": (lambda: RunConfig.make(lr=float("nan")), "lr", "nan"),
    "lr -1": (lambda: RunConfig.make(lr=-1), "lr", "-1"),
}


@pytest.mark.parametrize("case", API_CASES)
def test_bad_value_is_one_config_error_naming_field_and_value(case):
    call, field, shown = API_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refused before numpy or torch could warn
        with pytest.raises(ConfigError) as err:
            call()
    msg = _one_line(err)
    assert err.value.field == field
    assert msg.startswith(f"invalid {field} {shown}"), msg


@pytest.fixture
def files(tmp_path):
    def write(name, data: bytes):
        path = tmp_path / name
        path.write_bytes(data)
        return path
    return write


@pytest.mark.parametrize("data,allowed", [
    (b"depth: 3\n\xff\xfe\x00\x01", "a UTF-8 YAML file (not readable as text: byte 0xff at offset 9)"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "a UTF-8 YAML file"),
    (b"[" * 5000 + b"]" * 5000, "valid YAML (parse error: nested too deeply)"),
    (b"a: " + b"x" * (MAX_CONFIG_BYTES + 10), "a readable YAML file of at most 1 MiB"),
    (b"depth: [1, 2\n", "valid YAML (parse error at line 2)"),
    (b"- 1\n- 2\n", "a YAML mapping"),
])
def test_bad_config_files(files, data, allowed):
    path = files("bad.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_config_file(path)
    msg = _one_line(err)
    assert err.value.field == "config" and err.value.value == str(path) and allowed in err.value.allowed, msg


def test_billion_laughs_config_value_is_a_short_error(files):
    """Shared YAML aliases are small in memory but huge when printed: the message shows a bounded repr."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [*a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}, *a{i-1}]"
              for i in range(1, 9)]
    lines.append("depth: *a8")
    values = load_config_file(files("laughs.yaml", "\n".join(lines).encode()))
    values = {"depth": values["depth"]}
    with pytest.raises(ConfigError) as err:
        RunConfig.make(values)
    assert err.value.field == "depth" and _one_line(err).startswith("invalid depth [[[[")


def _idx(header_dims, code=0x08, data=b""):
    return b"\x00\x00" + bytes([code, len(header_dims)]) + struct.pack(f">{len(header_dims)}I", *header_dims) + data


@pytest.mark.parametrize("raw,phrase", [
    (gzip.compress(_idx((60000, 28, 28), data=bytes(10))), "more than what"),  # the header lies
    (gzip.compress(_idx((2**32 - 1, 2**32 - 1, 28))), "more than the 4 GiB limit"),
    (gzip.compress(_idx((100,), data=bytes(50 << 20))), "longer than its header says"),  # a small bomb
    (_idx((2**31, 2**31, 2)), "more than the 4 GiB limit"),
    (gzip.compress(_idx((10,), data=bytes(4))), "truncated"),
])
def test_idx_size_bounded_by_the_header(files, raw, phrase):
    path = files("train-images-idx3-ubyte.gz", raw)
    from vanishing.data.idx import read_idx

    with pytest.raises(DataError) as err:
        read_idx(path)
    msg = _one_line(err)
    assert phrase in msg and str(path) in msg


def test_idx_through_load_dataset_names_the_file(tmp_path):
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx((60000, 28, 28), data=bytes(10))))
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(_idx((1,), data=b"\x00"))
    with pytest.raises(VanishingError) as err:
        load_dataset(f"idx:path={tmp_path}")
    assert "train-images-idx3-ubyte.gz" in _one_line(err)


@pytest.mark.parametrize("value,shown", [
    (b"\x00\xff\x1b[31m", r"b'\x00\xff\x1b[31m'"),
    ("a\nb\x00c\x1b[2J", r"'a\nb\x00c\x1b[2J'"),
    ("re\u202elu", r"'re\u202elu'"),  # right-to-left override
    ("é", "'é'"),
    ("x" * 10**7, "'" + "x" * 119 + "… (10000000 characters)"),
    (bytes(10**6), None),
    (2**70, str(2**70)),
    (10**400, None),
    (np.float64(1.5), "1.5"),
    (np.int64(7), "7"),
])
def test_values_shown_one_line_printable_bounded(value, shown):
    text = safe_repr(value)
    assert text.isprintable() and len(text) < 200
    if shown is not None:
        assert text == shown
    for err in (ConfigError("config", value, "a UTF-8 YAML file"), DataError(f"idx file {value!s:.300}: bad"),
                StoreError(value, "cannot open it")):
        assert str(err).isprintable() and len(str(err)) < 1000
