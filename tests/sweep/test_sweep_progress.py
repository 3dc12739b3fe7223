"""run_sweep reports progress through its callback and draws nothing itself."""

from vanishing.experiments.store import Store
from vanishing.experiments.sweep import SweepSpec, run_sweep


def test_progress_reports_counts_and_the_library_prints_nothing(tmp_path, capfd):
    spec = SweepSpec.parse({"name": "p", "base": {"depth": 2, "width": 4, "steps": 6, "record_every": 3,
                                                  "dataset": "spirals:n=40", "device": "cpu"},
                            "grid": {"activation": ["tanh", "relu"]}})
    calls = []
    with Store(tmp_path / "r.db") as store:
        outcome = run_sweep(spec, store, executor="sequential", progress=lambda *counts: calls.append(counts))
        assert outcome.done == 2
        again = []
        run_sweep(spec, store, executor="sequential", progress=lambda *counts: again.append(counts))
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert calls[0] == (0, 12, 0, 2) and calls[-1] == (12, 12, 2, 2)
    runs = [c[2] for c in calls]
    assert runs == sorted(runs) and all(c[1] == 12 and c[3] == 2 for c in calls)
    assert again == [(0, 0, 0, 0)]  # everything was done already
