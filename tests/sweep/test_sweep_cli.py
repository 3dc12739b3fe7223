"""`vanishing sweep` and `vanishing results` through Typer's runner; resume after SIGKILL of a sweep process."""

import csv
import io
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.experiments.store import Store, config_hash
from vanishing.experiments.sweep import SweepSpec

runner = CliRunner()

SPEC = """\
base: {dataset: circles, depth: 3, width: 8, steps: 30, record_every: 10, device: cpu}
grid:
  activation: [tanh, relu]
  lr: [0.1, 0.05]
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A 4-run sweep in a store, run once through the CLI."""
    d = tmp_path_factory.mktemp("sweep")
    (d / "tiny.yaml").write_text(SPEC)
    res = invoke("sweep", d / "tiny.yaml", "--store", d / "r.db")
    return d, res


def test_sweep_prints_counts_summary_and_store(swept):
    d, res = swept
    assert res.exit_code == 0, res.output
    out = res.output
    assert "sweep tiny: 4 configs, 0 already done (skipped), 4 to run (batched)" in out
    assert "4 finished, 0 failed" in out and "runs by verdict" in out
    assert f"results in {d / 'r.db'}: vanishing results {d / 'r.db'} --sweep tiny" in out
    with Store(d / "r.db", create=False) as store:
        assert len(store.done_hashes()) == 4


def test_rerun_skips_everything(swept):
    d, _ = swept
    res = invoke("sweep", d / "tiny.yaml", "--store", d / "r.db", "--executor", "sequential")
    assert res.exit_code == 0, res.output
    assert "4 configs, 4 already done (skipped), 0 to run" in res.output
    assert "finished" not in res.output


def test_dry_run_runs_nothing(tmp_path):
    (tmp_path / "s.yaml").write_text(SPEC + "seeds: 3\n")
    res = invoke("sweep", tmp_path / "s.yaml", "--store", tmp_path / "r.db", "--dry-run")
    assert res.exit_code == 0, res.output
    assert "12 configs, 0 already done (skipped), 12 to run" in res.output
    with Store(tmp_path / "r.db", create=False) as store:
        assert len(store) == 0


def test_results_table_where_and_csv(swept, tmp_path):
    d, _ = swept
    res = invoke("results", d / "r.db")
    assert res.exit_code == 0, res.output
    header = res.output.splitlines()[0].split()
    assert header[:2] == ["activation", "lr"] and "verdict" in header and "status" in header
    assert len(res.output.splitlines()) == 5

    res = invoke("results", d / "r.db", "--where", "activation=relu", "--where", "lr>0.07", "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert [(r["activation"], r["lr"], r["status"]) for r in rows] == [("relu", "0.1", "done")]
    assert {"depth", "seed", "init", "final_test_accuracy", "vanishing_orders", "verdict"} <= set(rows[0])

    out = tmp_path / "all.csv"
    res = invoke("results", d / "r.db", "--sweep", "tiny", "--format", "csv", "--out", out)
    assert res.exit_code == 0 and "4 rows written to" in res.output
    assert len(list(csv.DictReader(out.open()))) == 4


def test_results_parquet(swept, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    d, _ = swept
    res = invoke("results", d / "r.db", "--format", "parquet", "--out", tmp_path / "r.parquet")
    assert res.exit_code == 0, res.output
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert len(frame) == 4 and {"activation", "lr", "status", "verdict"} <= set(frame.columns)


def test_results_with_no_match(swept):
    d, _ = swept
    res = invoke("results", d / "r.db", "--where", "depth>100")
    assert res.exit_code == 0 and "no runs in" in res.output and "match" in res.output
    res = invoke("results", d / "r.db", "--where", "depth>100", "--format", "csv")
    assert res.exit_code == 0 and res.stdout.startswith("depth,width,activation,")  # a header for scripts


@pytest.mark.parametrize("args,needle", [
    (["sweep", "{d}/missing.yaml"], "invalid sweep spec"),
    (["sweep", "{d}/bad.yaml", "--store", "{d}/x.db"], "invalid grid.depth[1] -1; an integer >= 1"),
    (["sweep", "{d}/tiny.yaml", "--store", "{d}/x.db", "--executor", "gpu"],
     "invalid executor 'gpu'; one of: sequential, batched, processes, ray"),
    (["sweep", "{d}/tiny.yaml", "--store", "{d}/x.db", "--workers", "0"], "invalid workers 0"),
    (["sweep", "{d}/tiny.yaml", "--store", "{d}/tiny.yaml"], "results store"),
    (["results", "{d}/nope.db"], "results store"),
    (["results", "{d}/r.db", "--format", "xlsx"], "invalid format 'xlsx'; one of: table, csv, parquet"),
    (["results", "{d}/r.db", "--format", "parquet"], "parquet is written to a file"),
    (["results", "{d}/r.db", "--where", "colour=red"], "colour"),
    (["results", "{d}/r.db", "--sweep", "nope"], "nope"),
])
def test_bad_input_is_one_line_exit_2(swept, args, needle):
    d, _ = swept
    (d / "bad.yaml").write_text("grid: {depth: [3, -1]}\n")
    res = invoke(*[a.format(d=d) for a in args])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.output


def test_failed_runs_exit_1_and_are_retried(tmp_path, monkeypatch):
    import importlib

    run_mod = importlib.import_module("vanishing.experiments.run")

    def broken(config, on_step=None):
        raise RuntimeError("no luck")

    (tmp_path / "s.yaml").write_text(SPEC)
    monkeypatch.setattr(run_mod, "run", broken)
    res = invoke("sweep", tmp_path / "s.yaml", "--store", tmp_path / "r.db", "--executor", "sequential")
    assert res.exit_code == 1
    assert "0 finished, 4 failed" in res.output and "RuntimeError: no luck" in res.output
    monkeypatch.undo()
    res = invoke("sweep", tmp_path / "s.yaml", "--store", tmp_path / "r.db", "--executor", "sequential")
    assert res.exit_code == 0 and "4 finished, 0 failed" in res.output


def _done(db):
    if not db.exists():
        return {}
    try:
        with Store(db, create=False) as store:
            return {r["config_hash"]: r["finished_at"] for r in store.rows() if r["status"] == "done"}
    except Exception:  # the store may be mid-creation
        return {}


def test_resume_after_sigkill_loses_and_duplicates_nothing(tmp_path):
    spec_file = tmp_path / "kill.yaml"
    spec_file.write_text(SPEC + "seeds: 2\n")  # 8 runs
    db = tmp_path / "r.db"
    cmd = [sys.executable, "-c", "from vanishing.cli import main; main()",
           "sweep", str(spec_file), "--store", str(db), "--executor", "sequential"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not _done(db) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed"
    before = _done(db)
    assert 1 <= len(before) < 8

    res = invoke("sweep", spec_file, "--store", db, "--executor", "sequential")
    assert res.exit_code == 0, res.output
    assert f"8 configs, {len(before)} already done (skipped), {8 - len(before)} to run" in res.output

    expected = {config_hash(c) for c in SweepSpec.load(spec_file).configs()}
    with Store(db, create=False) as store:
        rows = store.rows()
        member_rows = store.rows(sweep="kill")
    hashes = [r["config_hash"] for r in rows]
    assert len(hashes) == len(set(hashes)) == 8 and set(hashes) == expected
    assert {r["config_hash"] for r in member_rows} == expected
    assert all(r["status"] == "done" for r in rows)
    after = {r["config_hash"]: r["finished_at"] for r in rows}
    assert all(after[h] == t for h, t in before.items())  # finished runs were not run again
