import pytest

import vanishing
from vanishing.experiments.run import RunResult


@pytest.fixture(scope="module")
def result() -> RunResult:
    """A small real run: 4 layers of 8 units, 20 steps, recorded every 5."""
    return vanishing.run(vanishing.RunConfig.make(depth=4, width=8, steps=20, record_every=5))


@pytest.fixture(scope="module")
def relu_result() -> RunResult:
    return vanishing.run(vanishing.RunConfig.make(depth=4, width=8, steps=20, record_every=5,
                                                  activation="relu", init="he_normal"))


@pytest.fixture(scope="module")
def result_files(result, relu_result, tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    return result.save_json(d / "a.json"), relu_result.save_json(d / "b.json")
