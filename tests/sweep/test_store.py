"""The SQLite results store: round trip, idempotency, atomicity, concurrency, bad files, queries."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vanishing.config import RunConfig
from vanishing.diagnose import diagnose
from vanishing.errors import ConfigError, StoreError, VanishingError
from vanishing.experiments.run import RunResult, run
from vanishing.experiments import store as store_module
from vanishing.experiments.store import SCHEMA_VERSION, Store, SweepSpecChanged, config_hash, write_rows

TINY = dict(depth=3, width=8, steps=5, record_every=2, dataset="spirals:n=40", device="cpu")


@pytest.fixture(scope="module")
def result() -> RunResult:
    return run(RunConfig.make(**TINY))


def variant(result: RunResult, **changes) -> RunResult:
    """The same trace under another config (storage does not care that it was not rerun)."""
    return dataclasses.replace(result, config=RunConfig.make(result.config, **changes))


def same(a, b) -> bool:
    """Equality where NaN equals NaN, recursively through dicts and lists."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def assert_same_run(got: RunResult, want: RunResult) -> None:
    assert got.config == want.config
    assert same(got.summary, want.summary)
    assert same(got.diagnosis, want.diagnosis if want.diagnosis is not None else diagnose(want).to_dict())
    assert got.outcome == want.outcome or same(dataclasses.asdict(got.outcome), dataclasses.asdict(want.outcome))
    assert got.dataset == want.dataset
    assert got.trace.layers == want.trace.layers and got.trace.meta == want.trace.meta
    np.testing.assert_array_equal(got.trace.steps, want.trace.steps)
    for kind in ("data", "scalars"):
        g, w = getattr(got.trace, kind), getattr(want.trace, kind)
        assert g.keys() == w.keys()
        for k in w:
            np.testing.assert_array_equal(g[k], w[k])  # exact, NaN where NaN


# --- hashing ---------------------------------------------------------------------
def test_config_hash_matches_reference_and_ignores_key_order():
    c = RunConfig.make(depth=7, activation="tanh", lr=0.05)
    reference = hashlib.sha256(json.dumps(c.model_dump(), sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert config_hash(c) == reference
    assert config_hash(RunConfig.make(dict(reversed(list(c.model_dump().items()))))) == reference
    assert config_hash(c.replace(seed=1)) != reference
    assert config_hash(RunConfig.make(lr=1)) == config_hash(RunConfig.make(lr=1.0))


# --- round trip ------------------------------------------------------------------
def test_put_then_get_round_trips(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put(result)
        assert h == config_hash(result.config) and len(store) == 1 and h in store
    with Store(tmp_path / "r.db", create=False) as store:  # a fresh connection reads what was committed
        assert_same_run(store.get(h), result)
        assert_same_run(store.get(h[:10]), result)  # a unique prefix is enough
        assert store.done_hashes() == {h} and store.done_hashes(["x", h]) == {h} and store.done_hashes([]) == set()


def test_nan_and_inf_survive(tmp_path, result):
    trace = dataclasses.replace(result.trace, data={k: v.copy() for k, v in result.trace.data.items()})
    trace.data["grad_norm"][0, 0] = np.inf  # first_layer_grad_norm = inf, vanishing_orders = NaN
    outcome = dataclasses.replace(result.outcome, final_loss=math.nan, diverged=True, diverged_step=3)
    # diagnosis=None: a result changed by hand is diagnosed again (by the store, for its verdict)
    odd = dataclasses.replace(result, trace=trace, outcome=outcome, duration_s=math.inf, diagnosis=None)
    s = odd.summary
    assert math.isnan(s["final_loss"]) and s["first_layer_grad_norm"] == math.inf and math.isnan(s["vanishing_orders"])
    with Store(tmp_path / "r.db") as store:
        h = store.put(odd)
        assert_same_run(store.get(h), odd)
        row = store.rows()[0]
    assert math.isnan(row["final_loss"]) and math.isnan(row["vanishing_orders"])
    assert row["first_layer_grad_norm"] == math.inf and row["duration_s"] == math.inf
    assert row["majority_baseline"] == s["majority_baseline"] and row["diverged_step"] == 3


def test_nan_duration_comes_back_as_nan(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put(dataclasses.replace(result, duration_s=math.nan))
        assert math.isnan(store.get(h).duration_s)


# --- idempotency -----------------------------------------------------------------
def test_put_twice_keeps_one_row(tmp_path, result, monkeypatch):
    with Store(tmp_path / "r.db") as store:
        h = store.put(result)
        first = store.rows()[0]
        monkeypatch.setattr(store_module, "_now", lambda: "2099-01-01T00:00:00Z")  # a rewrite would show
        assert store.put(result) == h
        assert len(store) == 1 and store.rows() == [first]  # the done row was left alone


def test_failed_then_done_is_done(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put_failure(result.config, "RuntimeError: out of memory")
        assert store.rows()[0]["status"] == "failed" and store.done_hashes() == set()
        assert store.put(result) == h
        (row,) = store.rows()
        assert row["status"] == "done" and row["error"] is None and row["verdict"] == result.verdict
        assert_same_run(store.get(h), result)


def test_failure_never_overwrites_done(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put(result)
        store.put_failure(result.config, "late duplicate failed")
        (row,) = store.rows()
        assert row["status"] == "done" and row["error"] is None and store.done_hashes() == {h}


def test_an_interrupted_run_is_not_done(tmp_path, result):
    stopped = dataclasses.replace(result, outcome=dataclasses.replace(result.outcome, interrupted=True, steps_done=2))
    with Store(tmp_path / "r.db") as store:
        h = store.put(stopped)
        assert store.done_hashes() == set()
        assert store.rows()[0]["error"] == f"interrupted after 2 of {result.config['steps']} steps"
        assert store.put(result) == h and store.done_hashes() == {h}  # the rerun replaces it
        store.put(stopped)
        assert store.rows()[0]["status"] == "done"  # and a later interrupted duplicate does not


def test_failure_error_is_one_line_and_latest(tmp_path, result):
    tb = 'Traceback (most recent call last):\n  File "x.py", line 1, in <module>\nValueError: bad width\n'
    with Store(tmp_path / "r.db") as store:
        store.put_failure(result.config, "first")
        store.put_failure(result.config, tb)
        (row,) = store.rows()
    assert row["error"] == "ValueError: bad width" and row["status"] == "failed"


def test_get_of_a_failed_or_unknown_run_is_a_store_error(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put_failure(result.config, "boom")
        with pytest.raises(StoreError, match="failed, nothing to load: boom"):
            store.get(h)
        with pytest.raises(StoreError, match="no run with config hash"):
            store.get("0" * 64)
        with pytest.raises(StoreError, match="no run with config hash"):
            store.get("not-hex")


# --- atomicity and concurrency ------------------------------------------------------
class _FailOnTraceInsert:
    """A connection that dies between the run row and its trace, as a crash would."""

    def __init__(self, conn):
        self._conn = conn

    def execute(self, sql, *args):
        if sql.startswith("INSERT OR REPLACE INTO traces"):
            raise KeyboardInterrupt
        return self._conn.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_put_interrupted_midway_leaves_no_partial_run(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        sweep = store.add_sweep("s", {}, [])
        real = store._conn
        store._conn = _FailOnTraceInsert(real)
        with pytest.raises(KeyboardInterrupt):
            store.put(result, sweep)
        store._conn = real
        assert len(store) == 0 and store.rows() == [] and store.sweeps()[0]["members"] == 0
        assert real.execute("SELECT count(*) FROM traces").fetchone() == (0,)
        h = store.put(result, sweep)  # the store is still usable
        assert_same_run(store.get(h), result)


def test_threads_can_share_one_store(tmp_path, result):
    runs = [variant(result, seed=i) for i in range(40)]
    with Store(tmp_path / "r.db") as store:
        def work(k: int) -> None:
            for r in runs[k::4]:
                store.put(r)
                store.rows(["status=done"])
        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert store.done_hashes() == {config_hash(r.config) for r in runs}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_through_its_own_connection(tmp_path, result):
    store = Store(tmp_path / "r.db")
    store.put(result)
    child_run = variant(result, seed=1)
    ctx = multiprocessing.get_context("fork")
    proc = ctx.Process(target=lambda: (store.put(child_run), store.close()))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert store.done_hashes() == {config_hash(result.config), config_hash(child_run.config)}
    assert_same_run(store.get(config_hash(child_run.config)), child_run)
    store.close()


def _child(code: str, *args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(predicate, timeout: float, what: str, procs=()) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"child exited early ({p.returncode}) waiting for {what}: {p.stderr.read()}")
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


_LOOP_WRITER = """
    import dataclasses, pathlib, sys, time
    from vanishing.config import RunConfig
    from vanishing.experiments.run import RunResult
    from vanishing.experiments.store import Store
    db, saved, marker = sys.argv[1:]
    r = RunResult.load_json(saved)

    class StallBeforeTrace:  # the 31st run stalls inside its transaction, after its run row
        def __init__(self, conn):
            self.conn, self.n = conn, 0
        def execute(self, sql, *args):
            if sql.startswith("INSERT OR REPLACE INTO traces"):
                self.n += 1
                if self.n == 31:
                    pathlib.Path(marker).touch()
                    time.sleep(600)
            return self.conn.execute(sql, *args)
        def __getattr__(self, name):
            return getattr(self.conn, name)

    with Store(db) as store:
        sweep = store.add_sweep("forever", {"seed": "0.."}, [])
        store._conn = StallBeforeTrace(store._conn)
        i = 0
        while True:
            store.put(dataclasses.replace(r, config=RunConfig.make(r.config, seed=i)), sweep)
            if i % 3 == 0:
                store.put_failure(RunConfig.make(r.config, seed=100000 + i), "RuntimeError: planned", sweep)
            i += 1
"""


@pytest.mark.slow
def test_sigkill_mid_write_leaves_only_complete_runs(tmp_path, result):
    db, saved, marker = tmp_path / "r.db", result.save_json(tmp_path / "r.json"), tmp_path / "stalled"
    proc = _child(_LOOP_WRITER, str(db), str(saved), str(marker))
    try:
        _wait_for(marker.exists, 120, "the writer to stall mid-transaction", [proc])
        with pytest.raises(StoreError, match="locked"):  # it really holds the write lock
            with Store(db, create=False) as other:
                other._conn.execute("PRAGMA busy_timeout = 10")
                other.put_failure(result.config, "never written")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Store(db, create=False) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = store.rows()
        done = [r for r in rows if r["status"] == "done"]
        assert sorted(r["seed"] for r in done) == list(range(30))  # seed 30 was mid-write: not there at all
        assert len(rows) == len(store) == 30 + 10 and store.sweeps()[0]["members"] == len(rows)
        assert {r["config_hash"] for r in done} == store.done_hashes()
        n = store._conn.execute("SELECT count(*) FROM traces").fetchone()[0]
        assert n == len(done)  # every done run has its trace, and no trace is orphaned
        for row in done:
            got = store.get(row["config_hash"])
            assert same(got.summary["vanishing_orders"], row["vanishing_orders"])
            assert_same_run(got, variant(result, seed=row["seed"]))
        assert all(r["error"] == "RuntimeError: planned" for r in rows if r["status"] == "failed")
        store.put(variant(result, seed=30))  # and the store takes writes again
        assert len(store) == 41


_BATCH_WRITER = """
    import dataclasses, os, sys, time
    from vanishing.config import RunConfig
    from vanishing.experiments.run import RunResult
    from vanishing.experiments.store import Store, config_hash
    db, saved, tmp, lo, hi, fail_lo, fail_hi = sys.argv[1:]
    r = RunResult.load_json(saved)
    open(os.path.join(tmp, f"ready{lo}"), "w").close()
    while not os.path.exists(os.path.join(tmp, "go")):
        time.sleep(0.01)
    with Store(db) as store:  # both may create the file at once
        configs = [RunConfig.make(r.config, seed=i) for i in range(int(lo), int(hi))]
        sweep = store.add_sweep("grid", {"seeds": "shared"}, [config_hash(c) for c in configs])
        for c in configs:
            store.put(dataclasses.replace(r, config=c), sweep)
        for i in range(int(fail_lo), int(fail_hi)):
            store.put_failure(RunConfig.make(r.config, seed=i), "RuntimeError: the other writer succeeds", sweep)
    print("ok")
"""


@pytest.mark.slow
def test_two_processes_write_one_store_at_once(tmp_path, result):
    db, saved = tmp_path / "r.db", result.save_json(tmp_path / "r.json")
    # A: seeds 0..39, B: seeds 30..69 (10 shared); each reports the other's first 10 seeds as failed,
    # which must never win over a done run whatever the interleaving
    procs = [_child(_BATCH_WRITER, str(db), str(saved), str(tmp_path), "0", "40", "30", "40"),
             _child(_BATCH_WRITER, str(db), str(saved), str(tmp_path), "30", "70", "0", "10")]
    try:
        _wait_for(lambda: all((tmp_path / f"ready{lo}").exists() for lo in (0, 30)), 120, "both writers", procs)
        (tmp_path / "go").touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    with Store(db, create=False) as store:
        want = {config_hash(RunConfig.make(result.config, seed=i)) for i in range(70)}  # hashes from this process
        assert store.done_hashes() == want and len(store) == 70
        assert all(r["status"] == "done" and r["error"] is None for r in store.rows(sweep="grid"))
        (sweep,) = store.sweeps()
        assert (sweep["members"], sweep["done"], sweep["failed"]) == (70, 70, 0)
        assert_same_run(store.get(config_hash(RunConfig.make(result.config, seed=35))), variant(result, seed=35))


# --- files that are not ours -----------------------------------------------------------
def _random_bytes(p: Path) -> None:
    p.write_bytes(np.random.default_rng(0).bytes(8192))


def _sqlite_header_then_garbage(p: Path) -> None:
    p.write_bytes(b"SQLite format 3\x00" + np.random.default_rng(1).bytes(8192))


def _text_file(p: Path) -> None:
    p.write_text("depth,width\n3,8\n")


def _foreign_sqlite(p: Path) -> None:
    with sqlite3.connect(p) as conn:
        conn.execute("CREATE TABLE foo (x)")
        conn.execute("CREATE TABLE bar (y)")
    conn.close()


def _newer_schema(p: Path) -> None:
    Store(p).close()
    with sqlite3.connect(p) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.close()


@pytest.mark.parametrize("make, message", [
    (_random_bytes, "not an SQLite database (a binary file)"),
    (_sqlite_header_then_garbage, "corrupt or not an SQLite database"),
    (_text_file, "not an SQLite database (a text file)"),
    (_foreign_sqlite, "not a vanishing results store (it has tables bar, foo)"),
    (_newer_schema, f"schema version {SCHEMA_VERSION + 1}"),
    (lambda p: p.mkdir(), "is a folder"),
])
def test_a_file_that_is_not_a_store_is_a_one_line_error(tmp_path, make, message):
    p = tmp_path / "x.db"
    make(p)
    before = sorted(tmp_path.iterdir())
    for create in (True, False):
        with pytest.raises(StoreError) as exc:
            Store(p, create=create)
        text = str(exc.value)
        assert text.startswith(f"results store {str(p)!r}: ") and message in text and "\n" not in text
    assert sorted(tmp_path.iterdir()) == before  # nothing was created or changed beside it


def test_a_truncated_store_is_a_one_line_error(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        for i in range(20):
            store.put(variant(result, seed=i))
    data = (tmp_path / "r.db").read_bytes()
    (tmp_path / "half.db").write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreError, match=r"corrupt or not an SQLite database \(database disk image is malformed\)"):
        with Store(tmp_path / "half.db", create=False) as store:
            [store.get(r["config_hash"]) for r in store.rows()]


def test_a_damaged_trace_blob_is_a_store_error(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        h = store.put(result)
        store._conn.execute("UPDATE traces SET data = x'00ff'")
        with pytest.raises(StoreError, match=f"run {h[:12]} cannot be read back"):
            store.get(h)


def test_an_empty_file_becomes_a_store_only_when_asked(tmp_path):
    (tmp_path / "empty.db").touch()
    with pytest.raises(StoreError, match="empty file"):
        Store(tmp_path / "empty.db", create=False)
    with Store(tmp_path / "empty.db") as store:
        assert len(store) == 0
    Store(tmp_path / "empty.db", create=False).close()


def test_get_by_prefix(tmp_path, result):
    with Store(tmp_path / "r.db") as store:
        hashes = [store.put(variant(result, seed=i)) for i in range(20)]
        first = {}
        for h in hashes:
            first.setdefault(h[0], []).append(h)
        shared = next(c for c, hs in first.items() if len(hs) > 1)  # 20 hashes, 16 first digits
        with pytest.raises(StoreError, match=f"prefix {shared} is ambiguous"):
            store.get(shared)
        assert store.get(hashes[3][:12]).config["seed"] == 3
        assert store.get(hashes[3].upper()[:12]).config["seed"] == 3


def test_missing_file_with_create_false(tmp_path):
    with pytest.raises(StoreError, match="no such file"):
        Store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()
    with pytest.raises(StoreError, match="does not exist"):
        Store(tmp_path / "no" / "such" / "folder.db")


def test_store_is_a_vanishing_error_and_closed_store_says_so(tmp_path):
    store = Store(tmp_path / "r.db")
    assert store._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    store.close()
    store.close()
    with pytest.raises(VanishingError, match="closed"):
        len(store)


# --- sweeps and queries ------------------------------------------------------------
@pytest.fixture
def filled(tmp_path, result):
    store = Store(tmp_path / "r.db")
    a = store.add_sweep("act", {"activation": ["sigmoid", "tanh"]}, [])
    for act in ("sigmoid", "tanh"):
        store.put(variant(result, activation=act), a)
    d = store.add_sweep("depth", {"depth": [3, 12]}, [])
    store.put(variant(result, depth=12, lr=0.9, residual=True), d)
    store.put_failure(RunConfig.make(**{**TINY, "depth": 20}), "CUDA out of memory", d)
    yield store
    store.close()


def _pick(rows, key="config_hash"):
    return sorted(str(r[key]) for r in rows)


def test_rows_have_config_fields_then_status_metrics_and_bookkeeping(filled, result):
    rows = filled.rows()
    keys = list(rows[0])
    fields = list(RunConfig.model_fields)
    assert keys[:len(fields)] == fields and keys[len(fields)] == "status"
    metrics = [k for k in result.summary if k != "duration_s"]
    assert keys[len(fields) + 1:] == metrics + ["verdict", "duration_s", "error", "config_hash", "finished_at"]
    assert all(list(r) == keys for r in rows)
    assert [r["status"] for r in rows] == ["done", "done", "done", "failed"]
    failed = rows[-1]
    assert failed["error"] == "CUDA out of memory" and all(failed[m] is None for m in metrics)


@pytest.mark.parametrize("where, n", [
    (["activation=sigmoid"], 3),
    (["activation!=sigmoid"], 1),
    (["depth>=10"], 2),
    (["depth>3", "status=done"], 1),
    (["lr<0.5"], 3),
    (["lr <= 0.9", "residual = true"], 1),
    (["residual=false"], 3),
    (["verdict!=healthy"], 3),  # the failed run has no verdict: matches nothing, as NULL in SQL
    (["status=failed"], 1),
    (["steps_done>=5"], 3),
    (["diverged=false"], 3),
    (["activation='tanh'"], 1),
    (["finished_at>=2000-01-01"], 4),
    ([], 4),
])
def test_rows_where(filled, where, n):
    assert len(filled.rows(where)) == n


def test_rows_where_matches_python_filter(filled):
    rows = filled.rows()
    assert _pick(filled.rows(["vanishing_orders>0.5"])) == _pick(
        [r for r in rows if r["vanishing_orders"] is not None and r["vanishing_orders"] > 0.5])
    assert _pick(filled.rows(["depth>=10", "activation=sigmoid"])) == _pick(
        [r for r in rows if r["depth"] >= 10 and r["activation"] == "sigmoid"])


@pytest.mark.parametrize("clause, allowed", [
    ("colour=red", "with field one of: depth, width"),
    ("depth", "field OP value"),
    ("depth>=", "field OP value"),
    ("depth~3", "field OP value"),
    ("depth>=ten", "a number after depth>="),
    ("residual=maybe", "true or false after residual="),
    ("vanishing_orders>big", "a number after vanishing_orders>"),
])
def test_bad_where_clause_is_a_config_error(filled, clause, allowed):
    with pytest.raises(ConfigError) as exc:
        filled.rows([clause])
    assert exc.value.field == "where" and exc.value.value == clause and allowed in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_field_lists_metrics_too(filled):
    with pytest.raises(ConfigError, match="vanishing_orders.*verdict"):
        filled.rows(["nope=1"])


def test_rows_by_sweep_and_sweep_ids(filled, result):
    assert [r["activation"] for r in filled.rows(sweep="act")] == ["sigmoid", "tanh"]
    assert [r["depth"] for r in filled.rows(sweep="depth")] == [12, 20]
    assert len(filled.rows(["status=done"], sweep="depth")) == 1
    with pytest.raises(ConfigError, match="one of: act, depth"):
        filled.rows(sweep="nope")
    # the same name is the same sweep: a changed spec is refused unless replaced; new members are added, the id stays
    relu = [config_hash(RunConfig.make(result.config, activation="relu"))]
    with pytest.raises(SweepSpecChanged, match="sweep 'act' is stored with another spec"):
        filled.add_sweep("act", {"activation": ["relu"]}, relu)
    assert {s["name"]: s["members"] for s in filled.sweeps()}["act"] == 2  # nothing added
    again = filled.add_sweep("act", {"activation": ["relu"]}, relu, replace=True)
    info = {s["name"]: s for s in filled.sweeps()}
    assert again == info["act"]["id"] and info["act"]["spec"] == {"activation": ["relu"]}
    assert (info["act"]["members"], info["act"]["done"]) == (3, 2)
    assert (info["depth"]["members"], info["depth"]["done"], info["depth"]["failed"]) == (2, 1, 1)
    with pytest.raises(StoreError, match="no sweep with id 99"):
        filled.put(result, 99)


def test_an_unknown_sweep_in_an_empty_store(tmp_path):
    with Store(tmp_path / "r.db") as store:
        assert store.rows() == [] and store.rows(["vanishing_orders>1"]) == []
        with pytest.raises(ConfigError, match="none yet"):
            store.rows(sweep="x")


# --- writing rows out ----------------------------------------------------------------
def test_write_rows_table_csv_parquet(tmp_path, filled):
    rows = filled.rows()
    table = write_rows(rows, "table", None)
    head = table.splitlines()[0].split()
    # only the config fields that differ, then the headline columns, then the error of the failed run
    assert head == ["depth", "activation", "residual", "lr", "status", "vanishing_orders",
                    "signal_vanishing_orders", "final_test_accuracy", "verdict", "duration_s", "error"]
    assert len(table.splitlines()) == 1 + len(rows) and "CUDA out of memory" in table

    text = write_rows(rows, "csv", None)
    back = list(csv.DictReader(io.StringIO(text)))
    assert list(back[0]) == list(rows[0]) and len(back) == len(rows)
    assert back[0]["config_hash"] == rows[0]["config_hash"] and back[-1]["vanishing_orders"] == ""
    assert write_rows(rows, "csv", tmp_path / "out" / "r.csv") is None
    assert (tmp_path / "out" / "r.csv").read_text() == text

    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    assert write_rows(rows, "parquet", tmp_path / "r.parquet") is None
    frame = pd.read_parquet(tmp_path / "r.parquet")
    assert list(frame.columns) == list(rows[0]) and len(frame) == len(rows)
    assert list(frame["depth"]) == [r["depth"] for r in rows]
    assert frame["vanishing_orders"].iloc[0] == pytest.approx(rows[0]["vanishing_orders"])


def test_write_rows_of_no_rows_still_has_a_header(tmp_path):
    header = write_rows([], "csv", None).splitlines()
    assert header == [",".join([*RunConfig.model_fields, "status", "verdict", "duration_s", "error", "config_hash",
                                "finished_at"])]
    assert write_rows([], "table", None).split()[0] == "status"
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    write_rows([], "parquet", tmp_path / "r.parquet")
    assert len(pd.read_parquet(tmp_path / "r.parquet")) == 0


def test_write_rows_bad_format_and_missing_parquet_engine(tmp_path, filled, monkeypatch):
    with pytest.raises(ConfigError, match="one of: table, csv, parquet"):
        write_rows([], "xlsx", None)
    with pytest.raises(ConfigError, match="a file to write parquet to"):
        write_rows([], "parquet", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow → ImportError
    with pytest.raises(ConfigError) as exc:
        write_rows(filled.rows(), "parquet", tmp_path / "r.parquet")
    assert "pip install pandas pyarrow" in str(exc.value) and "\n" not in str(exc.value)
    assert not (tmp_path / "r.parquet").exists()


def test_write_rows_unwritable_path_is_one_line(tmp_path, filled):
    (tmp_path / "file").write_text("")
    with pytest.raises(VanishingError, match="cannot write csv"):
        write_rows(filled.rows(), "csv", tmp_path / "file" / "r.csv")


def test_a_store_of_the_previous_version_still_reads(tmp_path):
    """tests/fixtures/store_v1.db was written before the one codec: its rows, trace and sweep still read."""
    import shutil

    db = tmp_path / "old.db"
    shutil.copyfile(Path(__file__).parents[1] / "fixtures" / "store_v1.db", db)  # opening it may touch the file
    with Store(db, create=False) as store:
        done, failed = store.rows()
        assert (done["status"], failed["status"], failed["error"]) == ("done", "failed", "RuntimeError: boom")
        assert done["final_loss"] == math.inf and done["diverged"] is False and done["verdict"]
        r = store.get(done["config_hash"][:12])
        # the fixture's step-3 row of grad_norm was set to (inf, -inf, nan) before it was stored
        np.testing.assert_array_equal(r.trace["grad_norm"][1], [np.inf, -np.inf, np.nan])
        assert r.outcome.final_loss == math.inf and r.config["depth"] == 3
        assert r.command == "vanishing run " + RunConfig.make(r.config).flags()
        assert r.verdict == done["verdict"]
        assert [(s["name"], s["members"], s["done"], s["failed"]) for s in store.sweeps()] == [("fixture", 2, 1, 1)]
        assert config_hash(r.config) == done["config_hash"]  # hashes are unchanged
