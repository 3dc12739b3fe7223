"""`vanishing diagnose module:factory` through the runner, and diagnose_model on unseen architectures."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.diagnose.model import diagnose_model, resolve_factory
from vanishing.errors import ConfigError

runner = CliRunner()
HERE = __file__


def _data(n=128, d=16, classes=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] > 0).long() + 2 * (x[:, 1] > 0).long()


def deep_sigmoid():
    torch.manual_seed(0)
    layers = []
    for i in range(10):
        lin = nn.Linear(16, 16)
        nn.init.normal_(lin.weight, std=0.05)
        layers += [lin, nn.Sigmoid()]
    return nn.Sequential(*layers, nn.Linear(16, 4)), _data()


def shallow_relu():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)), _data(), nn.CrossEntropyLoss()


def model_only():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))


def loader():
    x, y = _data()
    return model_only(), torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)


def not_a_model():
    return 42


def raises():
    raise RuntimeError("boom in the factory")


def wrong_shape():
    return model_only(), (torch.zeros(8, 7), torch.zeros(8, dtype=torch.long))


def wrong_targets():
    return model_only(), (torch.zeros(8, 16), torch.zeros(8, 3))  # float (8, 3) targets for 4 outputs


def failing_loader():
    class Broken(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise ValueError("cannot read sample")

    return model_only(), torch.utils.data.DataLoader(Broken(), batch_size=2)


def test_diagnose_deep_sigmoid_vanishes_and_writes_json(tmp_path):
    out = tmp_path / "d.json"
    res = runner.invoke(app, ["diagnose", f"{HERE}:deep_sigmoid", "--steps", "20", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "verdict: vanishing_gradients" in res.output
    d = json.loads(out.read_text())
    assert d["verdict"] == "vanishing_gradients"
    assert len(d["layers"]) == 11 and d["findings"][0]["kind"] == "vanishing_gradients"


@pytest.mark.parametrize("factory", ["shallow_relu", "model_only", "loader"])
def test_diagnose_accepts_every_factory_shape(factory):
    res = runner.invoke(app, ["diagnose", f"{HERE}:{factory}", "--steps", "30", "--lr", "0.01"])
    assert res.exit_code == 0, res.output
    assert "verdict:" in res.output


@pytest.mark.parametrize("spec,words", [
    ("no_colon_here", "package.module:function"),
    ("vanishing_no_such_module_xyz:f", "cannot import"),
    (f"{HERE}:no_such_function", "no function"),
    (f"{HERE}:not_a_model", "factory result"),
    ("missing_file.py:f", "no file"),
])
def test_bad_factory_exits_2_with_one_line(spec, words):
    res = runner.invoke(app, ["diagnose", spec, "--steps", "5"])
    assert res.exit_code == 2
    assert "error:" in res.output and words in res.output
    assert "Traceback" not in res.output


@pytest.mark.parametrize("factory,words", [
    ("raises", ["the factory", ":raises()", "RuntimeError: boom in the factory"]),
    ("wrong_shape", ["the forward pass model(inputs)", "step 0", "mat1 and mat2", "inputs float32 (8, 7)",
                     "targets int64 (8,)", "(model, (inputs, targets))"]),
    ("wrong_targets", ["the loss mse_loss(outputs, targets)", "outputs float32 (8, 4)", "targets float32 (8, 3)",
                       "(model, batch, loss_fn)"]),
    ("failing_loader", ["first batch of the data loader", "ValueError: cannot read sample"]),
])
@pytest.mark.filterwarnings("ignore:Using a target size")  # mse_loss warns before it raises
def test_an_exception_in_user_code_is_one_paragraph_with_exit_2(factory, words):
    res = runner.invoke(app, ["diagnose", f"{HERE}:{factory}", "--steps", "5"])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output and res.output.startswith("error: ")
    flat = " ".join(res.output.split())
    for w in words:
        assert w in flat, (w, flat)
    assert "--traceback" in flat
    full = runner.invoke(app, ["diagnose", f"{HERE}:{factory}", "--steps", "5", "--traceback"])
    assert full.exit_code == 2 and "Traceback (most recent call last)" in full.output


def test_a_model_without_data_is_trained_on_random_inputs_and_says_so(tmp_path):
    out = tmp_path / "d.json"
    res = runner.invoke(app, ["diagnose", f"{HERE}:model_only", "--steps", "20", "--json", str(out)])
    assert res.exit_code == 0, res.output
    flat = " ".join(res.output.replace("│", " ").split())  # the panel's text, its lines joined
    assert "random_inputs (info)" in flat and "random inputs (standard normal, shape (64, 16))" in flat
    assert "uniform over 4 classes" in flat and "not judged" in flat
    assert "baseline" not in flat and "%" not in flat  # no accuracy judged against a baseline
    d = json.loads(out.read_text())
    kinds = {f["kind"] for f in d["findings"]}
    assert "random_inputs" in kinds and not kinds & {"poor_performance", "stalled_training"}
    assert d["numbers"]["random_inputs"].startswith("random inputs")


def test_divergence_is_found_in_a_users_loop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    case = resolve_factory((model, _data()))
    d, trace = diagnose_model(case, steps=40, lr=1e6, optimizer=torch.optim.SGD(model.parameters(), lr=1e6))
    assert d.verdict == "divergence"


def test_transformer_and_lstm_run_through():
    torch.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32, batch_first=True), 2)
    model = nn.Sequential(enc, nn.Flatten(), nn.Linear(16 * 5, 3))
    x, y = torch.randn(32, 5, 16), torch.randint(0, 3, (32,))
    d, trace = diagnose_model(resolve_factory((model, (x, y))), steps=10)
    assert d.verdict in {"healthy", "vanishing_gradients", "stalled_training", "poor_performance"}
    assert len(trace.layers) >= 2

    class LSTMNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.head = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 3)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    d, _ = diagnose_model(resolve_factory((LSTMNet(), (torch.randn(32, 6, 8), y))), steps=10)
    assert d.to_dict()["verdict"] == d.verdict


def test_bad_batch_is_a_config_error():
    with pytest.raises(ConfigError, match="batch"):
        resolve_factory((model_only(), "not a batch"))


def test_cnn_with_skips_and_batch_norm_is_healthy():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)

        def forward(self, x):
            return x + torch.relu(self.bn(self.conv(x)))

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), *[Block() for _ in range(6)],
                          nn.Flatten(), nn.Linear(8 * 8 * 8, 4))
    x = torch.randn(64, 1, 8, 8)
    y = (x.mean((1, 2, 3)) > 0).long() + 2 * (x[:, 0, 0, 0] > 0).long()
    d, trace = diagnose_model(resolve_factory((model, (x, y))), steps=30)
    assert len(trace.layers) >= 8  # convs, batch norms and the read-out
    assert d.verdict == "healthy", d.to_markdown()


def test_the_example_factories(monkeypatch):
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "diagnose_model.py"
    res = runner.invoke(app, ["diagnose", f"{example}:relu_cnn", "--steps", "40"])
    assert res.exit_code == 0, res.output
    assert "verdict: healthy" in res.output


@pytest.mark.parametrize("lr", ["nan", "-1", "0", "inf"])
def test_a_bad_learning_rate_is_refused_before_the_factory_runs(lr):
    out = runner.invoke(app, ["diagnose", f"{HERE}:never_called", "--lr", lr])
    assert out.exit_code == 2, out.output
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "lr" in lines[0] and "Traceback" not in out.output, out.output


def test_threads_flag_restores_the_thread_count():
    before = torch.get_num_threads()
    out = runner.invoke(app, ["diagnose", f"{HERE}:shallow_relu", "--steps", "4", "--threads", "1"])
    assert out.exit_code == 0, out.output
    assert torch.get_num_threads() == before


def never_called():
    raise AssertionError("the factory ran although --lr was refused")
