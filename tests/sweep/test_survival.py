"""What lets a sweep survive faults, piece by piece: leases in the store, verifying stored runs, the
schema migration and read-only opening, refusing a changed spec, a dead pool worker replaced and its
runs retried, Ctrl-C handing back finished runs. The same faults for real, end to end: tests/faults."""

import dataclasses
import hashlib
import multiprocessing
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vanishing.cli import app
from vanishing.config import RunConfig
from vanishing.errors import StoreError
from vanishing.experiments import executors, run
from vanishing.experiments import store as store_mod
from vanishing.experiments import sweep as sweep_mod
from vanishing.experiments.store import SCHEMA_VERSION, Store, config_hash
from vanishing.experiments.sweep import SweepOutcome, SweepSpec

TINY = dict(depth=3, width=8, steps=5, record_every=2, dataset="spirals:n=40", device="cpu")
FIXTURE = Path(__file__).parents[1] / "fixtures" / "store_v1.db"


@pytest.fixture(scope="module")
def results():
    return [run(RunConfig.make(**TINY, seed=s)) for s in range(3)]


def hashes_of(results):
    return [config_hash(r.config) for r in results]


# --- leases ---------------------------------------------------------------------------------
def test_a_claimed_run_is_nobody_elses_until_stored_released_or_expired(tmp_path, results, monkeypatch):
    a, b, c = hashes_of(results)
    with Store(tmp_path / "r.db") as store:
        assert store.claim([a, b], "A", 60) == [a, b]
        assert store.claim([a, b, c], "B", 60) == [c]  # A's stay A's
        assert store.claim([a], "A", 60) == [a]  # the owner may claim again (a renewal)
        assert store.claimed(others_than="B") == {a, b} and store.claimed([a, c]) == {a, c}
        store.put(results[0])  # stored: the claim ends, and a done run is never claimed
        assert store.claim([a], "B", 60) == [] and a not in store.claimed()
        store.release("B")
        assert store.claim([c], "A", 60) == [c]
        now = time.time()
        monkeypatch.setattr(store_mod.time, "time", lambda: now + 61)  # A stopped renewing: leases expired
        assert store.claim([b, c], "B", 60) == [b, c]
        assert store.renew("B", 60) == 2 and store.renew("A", 60) == 0


def test_a_failure_stored_since_the_caller_started_is_not_claimed_again(tmp_path, results):
    a, b, _ = hashes_of(results)
    with Store(tmp_path / "r.db") as store:
        store.put_failure(results[0].config, "boom")  # an old failure: a sweep starting now retries it
        since = store.failures([a, b])
        assert since == {a: store.rows()[0]["finished_at"]}
        store.put_failure(results[1].config, "boom")  # failed meanwhile (another sweep tried it)
        assert store.claim([a, b], "A", 60, failed_before=since) == [a]
        assert store.unsettled([a, b], since) == {a}


# --- verifying stored runs -----------------------------------------------------------------------
@pytest.mark.parametrize("damage, reason", [
    ("UPDATE traces SET data = x'00ff' WHERE config_hash = ?", "Error -3 while decompressing"),
    ("UPDATE runs SET outcome = '{\"steps\": 1' WHERE config_hash = ?", "cannot be read back"),
    ("UPDATE runs SET config = '{\"depth\": -4}' WHERE config_hash = ?", "depth"),
    ("UPDATE traces SET encoding = 'gzip' WHERE config_hash = ?", "trace encoding 'gzip'"),
])
def test_check_names_each_run_that_does_not_decode(tmp_path, results, damage, reason):
    db = tmp_path / "r.db"
    with Store(db) as store:
        for r in results:
            store.put(r)
        assert store.check() == []
    victim = hashes_of(results)[1]
    with sqlite3.connect(db) as conn:
        conn.execute(damage, (victim,))
    with Store(db) as store:
        (found,) = store.check()
        assert found[0] == victim and "\n" not in found[1]
        with pytest.raises(StoreError) as info:
            store.get(victim)
        assert found[1] in str(info.value) or reason in str(info.value)
        assert store.check(hashes_of(results)[:1]) == []  # only the runs asked about
        store.mark_damaged(victim, found[1])
        assert victim not in store.done_hashes() and store.check() == []
        row = next(r for r in store.rows() if r["config_hash"] == victim)
        assert row["status"] == "failed" and row["error"].startswith("stored data does not decode")
        store.put(results[1])  # the rerun replaces it
        assert store.get(victim).config == results[1].config


# --- schema migration, read-only opening ----------------------------------------------------------
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_version_1_store_is_read_and_written_as_it_is_and_migrated_when_a_sweep_claims(tmp_path, results):
    db = tmp_path / "old.db"
    shutil.copyfile(FIXTURE, db)
    before = _sha(db)
    with Store(db, create=False, readonly=True) as store:
        assert store.readonly and len(store.rows()) == 2 and store.check() == []
        with pytest.raises(StoreError, match="readonly"):
            store.put_failure(RunConfig.make(), "x")
    assert _sha(db) == before  # untouched (SQLite may leave its empty -wal/-shm beside it)

    def version():
        with sqlite3.connect(db) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0], "claims" in tables

    with Store(db, create=False) as store:  # reading and adding runs: still a version-1 file
        assert len(store.rows()) == 2 and store.claimed() == set() and store.renew("A", 60) == 0
        store.put(results[0])
        assert version() == ("1", False)
        assert store.claim(["ab"], "A", 60) == ["ab"]  # a sweep claims: the file becomes version 2
    assert version() == (str(SCHEMA_VERSION), True) and SCHEMA_VERSION == 2
    with Store(db, create=False) as store:
        assert len(store.rows()) == 3 and store.claimed() == {"ab"}


def test_a_store_whose_folder_cannot_be_written_opens_read_only(tmp_path, results, monkeypatch):
    db = tmp_path / "r.db"
    with Store(db) as store:
        store.put(results[0])
    # as root every folder is writable, so the permission check is what the test turns off
    monkeypatch.setattr(store_mod, "_writable", lambda path: False)
    before = _sha(db)
    with Store(db, create=False) as store:
        assert store.readonly and store.get(hashes_of(results)[0][:10]).config == results[0].config
        with pytest.raises(StoreError, match="readonly"):
            store.put(results[1])
    assert _sha(db) == before
    with pytest.raises(StoreError, match="folder cannot be written"):
        Store(tmp_path / "new.db")
    res = CliRunner().invoke(app, ["results", str(db), "--check"])
    assert res.exit_code == 0 and "1 finished run(s)" in res.output


# --- a changed spec under a stored name -------------------------------------------------------------
SPEC = """\
base: {dataset: circles, depth: 3, width: 8, steps: 10, record_every: 5, device: cpu}
grid: {activation: [tanh]}
"""


def test_the_cli_refuses_a_changed_spec_unless_new_name_or_force(tmp_path):
    runner = CliRunner()
    spec, db = tmp_path / "s.yaml", tmp_path / "r.db"
    spec.write_text(SPEC)
    assert runner.invoke(app, ["sweep", str(spec), "--store", str(db), "--executor", "sequential"]).exit_code == 0
    spec.write_text(SPEC.replace("[tanh]", "[tanh, relu]"))
    args = ["sweep", str(spec), "--store", str(db), "--executor", "sequential"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "sweep 's' is stored in" in res.output and "(grid differs)" in res.output
    assert "--new-name NAME, or --force" in res.output
    res = runner.invoke(app, args + ["--new-name", "s2"])
    assert res.exit_code == 0 and "1 already done (skipped), 1 to run" in res.output
    res = runner.invoke(app, args + ["--force"])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        assert {s["name"]: s["members"] for s in store.sweeps()} == {"s": 2, "s2": 2}


def test_a_spec_written_another_way_with_the_same_configs_is_the_same_sweep(tmp_path, results):
    members = hashes_of(results)
    with Store(tmp_path / "r.db") as store:
        sid = store.add_sweep("s", {"seeds": [0, 1, 2]}, members)
        assert store.add_sweep("s", {"seeds": 3}, members) == sid  # same configs: no refusal
        with pytest.raises(store_mod.SweepSpecChanged, match=r"\(seeds differs\)"):
            store.add_sweep("s", {"seeds": 2}, members[:2])


@pytest.mark.parametrize("args, needle", [
    (["--retries", "-1"], "invalid retries -1; an integer >= 0"),
    (["--lease", "0"], "invalid lease 0.0; a number of seconds > 0"),
    (["--new-name", " "], "invalid new-name"),
])
def test_bad_survival_options_are_one_line_exit_2(tmp_path, args, needle):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    res = CliRunner().invoke(app, ["sweep", str(spec), "--store", str(tmp_path / "r.db"), *args])
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output


# --- a dead pool worker ---------------------------------------------------------------------------
RELEASE = threading.Event()


def _dies_in_a_worker(group, advance, notes):
    """Kills its worker process (exit status 3, or only the first time when $VANISHING_TEST_DIE_ONCE
    names a marker file); in the driver's slot it waits until the test lets it finish."""
    if multiprocessing.parent_process() is not None:
        marker = os.environ.get("VANISHING_TEST_DIE_ONCE")
        if marker is None or not os.path.exists(marker):
            if marker is not None:
                Path(marker).touch()
            os._exit(3)
        yield 0, f"{group[0].seed} in a worker"
        return
    RELEASE.wait(120)
    yield 0, f"{group[0].seed} in the driver"


@pytest.mark.slow
@pytest.mark.parametrize("once", [False, True], ids=["always", "once"])
def test_a_dead_worker_is_replaced_and_its_runs_retried_then_failed(tmp_path, monkeypatch, once):
    """Part 1 goes to the pool's worker, which dies: it is retried (``retries=1``) in a fresh worker;
    dying again, its run is a failure naming the cause; the driver's slot is never disturbed."""
    if once:
        monkeypatch.setenv("VANISHING_TEST_DIE_ONCE", str(tmp_path / "died"))
    RELEASE.clear()
    configs = [RunConfig.make(**TINY, seed=s) for s in range(2)]
    options = executors.ExecutorOptions(retries=1)
    out = []
    for item in executors._pooled(configs, [[0], [1]], 2, _dies_in_a_worker, lambda n: None, options):
        out.append(item)
        if item[0] == 1:
            RELEASE.set()
    RELEASE.set()
    want = "1 in a worker" if once else ("the worker process training it died (exit status 3) on each of 2 "
                                         "attempts (out of memory?)")
    assert sorted(out) == [(0, "0 in the driver"), (1, want)]
    assert options.notes[0] == ("a worker process died (exit status 3) with 1 unfinished run(s); replaced, and "
                                "they started again (retry 1 of 1)")


# --- Ctrl-C hands back what the executor's workers had finished -------------------------------------
def test_ctrl_c_stores_the_runs_an_executor_hands_back(tmp_path, results, monkeypatch):
    def executor():
        yield 0, results[0]
        try:
            yield 1, "RuntimeError: boom"
        except KeyboardInterrupt:  # thrown in by the driver: hand back what the workers had finished
            yield 2, results[2]
            raise
        raise AssertionError("the driver never told the executor")

    with Store(tmp_path / "r.db") as store:
        real = store.put_failure

        def ctrl_c_while_writing(*a, **k):
            os.kill(os.getpid(), __import__("signal").SIGINT)  # held until the write is done
            return real(*a, **k)

        monkeypatch.setattr(store, "put_failure", ctrl_c_while_writing)
        sid = store.add_sweep("t", {}, [])
        outcome = SweepOutcome("t", sid, hashes_of(results))
        counts = sweep_mod._Counts(None, 3, 15)
        stored: list[int] = []
        interrupted = sweep_mod._store_runs(executor(), lambda j: results[j].config, store, sid, outcome, counts,
                                            stored.append)
        assert interrupted and stored == [0, 1, 2] and (outcome.done, outcome.failed) == (2, 1)
        assert store.done_hashes() == {hashes_of(results)[0], hashes_of(results)[2]}


def test_a_part_trains_only_the_configs_this_sweep_may_take():
    """``take`` is asked as each part starts; a part shrinks to what it returns (the rest is another
    sweep's) and a part left empty never starts."""
    configs = [RunConfig.make(**TINY, seed=s) for s in range(5)]
    asked, trained = [], []

    def take(indices):
        asked.append(list(indices))
        return [i for i in indices if i != 1 and i < 3]

    def task(group, advance, notes):
        trained.append([c.seed for c in group])
        for j, c in enumerate(group):
            yield j, f"seed {c.seed}"

    options = executors.ExecutorOptions(take=take)
    out = list(executors._pooled(configs, [[0, 1, 2], [3, 4]], 1, task, lambda n: None, options))
    assert asked == [[0, 1, 2], [3, 4]] and trained == [[0, 2]]
    assert out == [(0, "seed 0"), (2, "seed 2")]


def test_ctrl_c_while_a_batched_group_is_written_keeps_every_member(tmp_path, monkeypatch):
    """Ctrl-C while the first member of a trained group is being stored: the write finishes, and the
    other members, whose results are complete, are stored too before the sweep stops."""
    import signal

    spec = SweepSpec.parse({"base": {**TINY, "steps": 10}, "seeds": 3}, name="g")
    with Store(tmp_path / "r.db") as store:
        real = store.put
        calls = []

        def ctrl_c_during_first_write(result, sweep_id=None):
            calls.append(result)
            if len(calls) == 1:
                os.kill(os.getpid(), signal.SIGINT)  # held until this write is done
            return real(result, sweep_id=sweep_id)

        monkeypatch.setattr(store, "put", ctrl_c_during_first_write)
        outcome = sweep_mod.run_sweep(spec, store, executor="batched", workers=1)
        assert outcome.interrupted and outcome.done == 3 and len(store.done_hashes()) == 3
