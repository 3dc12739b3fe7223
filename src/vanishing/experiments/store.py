"""Results of many runs in one SQLite file — the project's only SQL.

A run is keyed by :func:`config_hash` of its :class:`~vanishing.config.RunConfig`, so the same
config is stored once however often a sweep is resumed or repeated.

Schema (version 2; a version-1 file is read and written as it is, and gains the ``claims`` table the
first time a sweep claims runs in it)::

    meta       (key TEXT PRIMARY KEY, value TEXT)         app_id, schema_version, created_at, created_by
    runs       (config_hash TEXT PRIMARY KEY,
                status TEXT 'done' | 'failed',
                config TEXT,      JSON of RunConfig.model_dump()
                summary TEXT,     JSON of RunResult.summary  (done only)
                verdict TEXT,     RunResult.verdict          (done only)
                outcome TEXT,     JSON of TrainOutcome        (done only)
                dataset TEXT,     JSON of RunResult.dataset   (done only)
                duration_s REAL, error TEXT (failed only), finished_at TEXT ISO-8601 UTC)
    traces     (config_hash TEXT PRIMARY KEY → runs, encoding TEXT, data BLOB)
    sweeps     (id INTEGER PRIMARY KEY, name TEXT UNIQUE, spec TEXT JSON, created_at TEXT)
    sweep_runs (sweep_id → sweeps, config_hash TEXT)     membership; a member need not have run yet
    claims     (config_hash TEXT PRIMARY KEY, owner TEXT, expires_at REAL Unix time)
                                                    a run ``owner`` is training (a lease, see Store.claim)

JSON columns and trace blobs are written by :mod:`vanishing.results.codec` (NaN and ±inf as the strings
``"nan"``, ``"inf"``, ``"-inf"``; ``null`` is ``None``). A trace blob (encoding ``zlib+json``) is
``zlib.compress(codec.dumps(Trace.to_dict()))``: readable with nothing but sqlite3, zlib and json.

Guarantees: every write is one ``BEGIN IMMEDIATE`` transaction (a process killed mid-write leaves
the store as it was before that run); the file is in WAL mode and writers wait up to
:data:`BUSY_TIMEOUT_S` for each other, so several processes can fill one store at once. One
``Store`` may be shared by threads (a lock serialises them); a forked child opens its own connection.
Sweeps sharing one store divide the work through leases (:meth:`Store.claim`): a claim names its owner
and expires unless renewed, so the runs of a claimer that crashed are taken by another after the lease.
A store whose file or folder cannot be written is opened read-only (SQLite ``mode=ro``, else
``immutable=1``): everything can be read, nothing written.

Example:
    >>> with Store("results.db") as store:                          # doctest: +SKIP
    ...     store.put(run(RunConfig.make(depth=20, activation="tanh")))
    ...     store.rows(["depth>=10", "verdict!=healthy"])
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import threading
import time
import zlib
from urllib.parse import quote
from contextlib import contextmanager
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ..config import RunConfig
from ..diagnose import diagnose
from ..errors import ConfigError, StoreError, VanishingError
from ..results import RunResult, Trace, TrainOutcome, codec
from .results import write_rows

__all__ = ["Store", "StoreError", "SweepSpecChanged", "config_hash", "write_rows", "APP_ID", "SCHEMA_VERSION",
           "BUSY_TIMEOUT_S"]

APP_ID = "vanishing.results"
SCHEMA_VERSION = 2
BUSY_TIMEOUT_S = 60.0
TRACE_ENCODING = "zlib+json"
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    config_hash TEXT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    config      TEXT NOT NULL,
    summary     TEXT,
    verdict     TEXT,
    outcome     TEXT,
    dataset     TEXT,
    duration_s  REAL,
    error       TEXT,
    finished_at TEXT NOT NULL
);
CREATE INDEX runs_status ON runs (status);
CREATE TABLE traces (
    config_hash TEXT PRIMARY KEY REFERENCES runs (config_hash) ON DELETE CASCADE,
    encoding    TEXT NOT NULL,
    data        BLOB NOT NULL
);
CREATE TABLE sweeps (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    spec       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE sweep_runs (
    sweep_id    INTEGER NOT NULL REFERENCES sweeps (id) ON DELETE CASCADE,
    config_hash TEXT NOT NULL,
    PRIMARY KEY (sweep_id, config_hash)
);
CREATE TABLE claims (
    config_hash TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_at  REAL NOT NULL
);
"""
# schema version → the statements that bring a file of that version to the next one
_MIGRATIONS = {
    1: ["CREATE TABLE claims (config_hash TEXT PRIMARY KEY, owner TEXT NOT NULL, expires_at REAL NOT NULL)"],
}
_UPSERT_DONE = """
INSERT INTO runs (config_hash, status, config, summary, verdict, outcome, dataset, duration_s, error, finished_at)
VALUES (?, 'done', ?, ?, ?, ?, ?, ?, NULL, ?)
ON CONFLICT (config_hash) DO UPDATE SET status = 'done', config = excluded.config, summary = excluded.summary,
    verdict = excluded.verdict, outcome = excluded.outcome, dataset = excluded.dataset,
    duration_s = excluded.duration_s, error = NULL, finished_at = excluded.finished_at
"""
_UPSERT_FAILED = """
INSERT INTO runs (config_hash, status, config, error, finished_at) VALUES (?, 'failed', ?, ?, ?)
ON CONFLICT (config_hash) DO UPDATE SET error = excluded.error, finished_at = excluded.finished_at
"""
_DECODE_SELECT = ("SELECT r.config_hash, r.status, r.config, r.summary, r.outcome, r.dataset, r.duration_s, r.error,"
                  " t.encoding, t.data FROM runs r LEFT JOIN traces t USING (config_hash)")
_INHERITED: list[sqlite3.Connection] = []  # connections a forked child got from its parent
_OURS = {"meta", "runs", "traces", "sweeps", "sweep_runs", "claims"}
_ADDED_IN = {"claims": 2}  # tables a file of an older version lacks

# rows(): columns after the config fields; the summary metrics go between status and verdict
_ROW_STR = ("status", "verdict", "error", "config_hash", "finished_at")
_OPS = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}
_CLAUSE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$")


def config_hash(config: RunConfig | Mapping[str, Any]) -> str:
    """sha256 hex of the canonical JSON (sorted keys, no spaces) of ``config.model_dump()``.

    Stable across processes and machines: it depends on the config's values only. ``config`` may be
    a :class:`RunConfig` or its dict (``RunResult.config``).

    >>> len(config_hash(RunConfig()))
    64
    """
    text = json.dumps(_config_dict(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Store:
    """One SQLite file of run results (see the module docstring for schema and guarantees).

    Args:
        path: the database file.
        create: make the file (and the schema) when missing; with ``False`` a missing file is a
            :class:`StoreError`.
        readonly: open for reading only; by default, when the file or its folder cannot be written.
            Every write is then a :class:`StoreError`.

    A file that is not an SQLite database, is corrupt, belongs to another application or was
    written by a newer schema is a one-line :class:`StoreError` naming the path.
    """

    def __init__(self, path: str | Path, *, create: bool = True, readonly: bool | None = None):
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()  # one connection shared by this object's threads, one at a time
        _check_file(self.path, create)
        #: opened for reading only: asked for, or the file or its folder cannot be written
        self.readonly = (not _writable(self.path)) if readonly is None else bool(readonly)
        if self.readonly and not self.path.exists():
            raise StoreError(self.path, "no such file (and its folder cannot be written to create it)")
        self._connect(create)

    def _connect(self, create: bool) -> None:
        try:
            with self._errors():
                if self.readonly:
                    self._connect_readonly()
                    return
                # isolation_level=None: we open every transaction ourselves (BEGIN IMMEDIATE)
                self._conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                             check_same_thread=False)
                self._pid = os.getpid()
                self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                self._open_schema(create)
                self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
                self._conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            self.close()
            raise

    def _connect_readonly(self) -> None:
        """``mode=ro`` reads a WAL file as writers see it, but needs to open its ``-shm`` beside it; in a
        folder that cannot be written, where a closed store has none, ``immutable=1`` reads the file as it is."""
        uri = "file:" + quote(str(self.path.resolve()))
        for query in ("?mode=ro", "?immutable=1"):
            self._conn = sqlite3.connect(uri + query, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                         check_same_thread=False)
            self._pid = os.getpid()
            try:
                found = self._check_schema()
            except sqlite3.OperationalError:
                self._conn.close()
                if query == "?immutable=1":
                    raise
                continue
            if not found:
                raise StoreError(self.path, "empty database, not a vanishing results store")
            return

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # --- writing -------------------------------------------------------------
    def add_sweep(self, name: str, spec: dict, hashes: Iterable[str], *, replace: bool = False) -> int:
        """Record sweep ``name`` with its spec and member config hashes; returns its id.

        A sweep is identified by its name: adding it again with the same spec (or one that expands to
        exactly its stored members) keeps its id (a resumed sweep stays one sweep). A different spec
        under a stored name is refused with :class:`SweepSpecChanged` unless ``replace``, which stores
        the new spec and adds its members to the old ones.
        """
        spec_json = codec.dumps(spec)
        hashes = list(hashes)
        with self._write() as conn:
            row = conn.execute("SELECT id, spec FROM sweeps WHERE name = ?", (name,)).fetchone()
            if row is None:
                sweep_id = conn.execute("INSERT INTO sweeps (name, spec, created_at) VALUES (?, ?, ?)",
                                        (name, spec_json, _now())).lastrowid
            else:
                sweep_id, stored = row
                changed = _changed_keys(_loads(stored), codec.loads(spec_json))
                # the same configs written another way (``seeds: 2`` for ``seeds: [0, 1]``) are the same sweep
                if changed and not replace and {r[0] for r in conn.execute(
                        "SELECT config_hash FROM sweep_runs WHERE sweep_id = ?", (sweep_id,))} != set(hashes):
                    raise SweepSpecChanged(self.path, name, changed)
                conn.execute("UPDATE sweeps SET spec = ? WHERE id = ?", (spec_json, sweep_id))
            conn.executemany("INSERT OR IGNORE INTO sweep_runs (sweep_id, config_hash) VALUES (?, ?)",
                             [(sweep_id, h) for h in hashes])
        return int(sweep_id)

    def put(self, result: RunResult, sweep_id: int | None = None) -> str:
        """Store a finished run (row + trace + sweep membership) in one transaction; returns its hash.

        Idempotent: a config that is already ``done`` is left as it is; a ``failed`` one is replaced.
        A run stopped early (``outcome.interrupted``, e.g. Ctrl-C) is not finished: it is recorded
        with :meth:`put_failure`, so a resumed sweep runs it again.
        """
        if result.outcome.interrupted:
            return self.put_failure(result.config, f"interrupted after {result.outcome.steps_done} of "
                                                   f"{result.config['steps']} steps", sweep_id)
        h = config_hash(result.config)
        summary = result.summary
        verdict = result.verdict if result.diagnosis is not None else diagnose(result).verdict
        row = (h, _config_json(result.config), codec.dumps(summary), verdict,
               codec.dumps(asdict(result.outcome)), codec.dumps(result.dataset), _real(result.duration_s), _now())
        blob = zlib.compress(codec.dumps(result.trace.to_dict()).encode("utf-8"))

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(_UPSERT_DONE, row)
            conn.execute("INSERT OR REPLACE INTO traces (config_hash, encoding, data) VALUES (?, ?, ?)",
                         (h, TRACE_ENCODING, blob))

        return self._put_unless_done(h, write, sweep_id)

    def put_failure(self, config: RunConfig | Mapping[str, Any], error: str, sweep_id: int | None = None) -> str:
        """Record that ``config`` failed with ``error`` (kept on one line); never replaces a ``done`` run."""
        h = config_hash(config)
        row = (h, _config_json(config), _one_line(error), _now())
        return self._put_unless_done(h, lambda conn: conn.execute(_UPSERT_FAILED, row), sweep_id)

    def _put_unless_done(self, h: str, write: Callable[[sqlite3.Connection], Any], sweep_id: int | None) -> str:
        """``write`` the run unless it is already done, and record membership: one transaction."""
        with self._write() as conn:
            if sweep_id is not None:
                if conn.execute("SELECT 1 FROM sweeps WHERE id = ?", (sweep_id,)).fetchone() is None:
                    raise StoreError(self.path, f"no sweep with id {sweep_id}")
                conn.execute("INSERT OR IGNORE INTO sweep_runs (sweep_id, config_hash) VALUES (?, ?)",
                             (sweep_id, h))
            if conn.execute("SELECT 1 FROM runs WHERE config_hash = ? AND status = 'done'", (h,)).fetchone() is None:
                write(conn)
            if self._version >= 2:
                conn.execute("DELETE FROM claims WHERE config_hash = ?", (h,))  # stored: nobody works on it now
        return h

    # --- leases: sweeps sharing one store divide its runs ----------------------------
    def claim(self, hashes: Iterable[str], owner: str, lease_s: float, *,
              failed_before: Mapping[str, str] | None = None) -> list[str]:
        """Claim for ``owner`` the runs among ``hashes`` that nobody else holds, in one transaction.

        A run is taken unless it is ``done``, holds a lease of another owner that has not expired, or
        (with ``failed_before``, :meth:`failures` read when the caller started) failed since then, so a
        failure another sweep stored meanwhile is not tried again here. Taken runs (returned, in
        the order given) hold a lease of ``lease_s`` seconds, extended by :meth:`renew` and ended by
        :meth:`put`, :meth:`put_failure` or :meth:`release`. Expired leases are dropped first.
        """
        taken = []
        self._migrate()
        with self._write() as conn:
            now = time.time()
            conn.execute("DELETE FROM claims WHERE expires_at < ?", (now,))
            for h in hashes:
                row = conn.execute("SELECT status, finished_at FROM runs WHERE config_hash = ?", (h,)).fetchone()
                if row is not None and (row[0] == "done" or _failed_since(row, h, failed_before)):
                    continue
                held = conn.execute("SELECT owner FROM claims WHERE config_hash = ?", (h,)).fetchone()
                if held is not None and held[0] != owner:
                    continue
                conn.execute("INSERT OR REPLACE INTO claims (config_hash, owner, expires_at) VALUES (?, ?, ?)",
                             (h, owner, now + lease_s))
                taken.append(h)
        return taken

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease of ``owner`` to ``lease_s`` seconds from now; returns how many it holds."""
        if self._version < 2:
            return 0
        with self._write() as conn:
            return conn.execute("UPDATE claims SET expires_at = ? WHERE owner = ?",
                                (time.time() + lease_s, owner)).rowcount

    def release(self, owner: str) -> None:
        """End every lease of ``owner`` (its unfinished runs become free for others at once)."""
        if self._version < 2:
            return
        with self._write() as conn:
            conn.execute("DELETE FROM claims WHERE owner = ?", (owner,))

    def claimed(self, hashes: Iterable[str] | None = None, *, others_than: str | None = None) -> set[str]:
        """Config hashes under a lease that has not expired (only those among ``hashes``; not ``others_than``'s)."""
        if self._version < 2:
            return set()
        with self._read() as db:
            rows = db.execute("SELECT config_hash, owner FROM claims WHERE expires_at >= ?", (time.time(),)).fetchall()
        held = {h for h, o in rows if o != others_than}
        return held if hashes is None else held.intersection(hashes)

    def failures(self, hashes: Iterable[str] | None = None) -> dict[str, str]:
        """``config_hash → finished_at`` of the ``failed`` runs (only those among ``hashes`` when given)."""
        with self._read() as db:
            found = dict(db.execute("SELECT config_hash, finished_at FROM runs WHERE status = 'failed'").fetchall())
        return found if hashes is None else {h: found[h] for h in hashes if h in found}

    def unsettled(self, hashes: Iterable[str], failed_before: Mapping[str, str]) -> set[str]:
        """Those of ``hashes`` neither ``done`` nor failed since ``failed_before`` (:meth:`failures` read
        earlier): the runs a sweep that started then has still to see finished."""
        hashes = set(hashes)
        with self._read() as db:
            settled = {row[0] for row in db.execute("SELECT config_hash, status, finished_at FROM runs")
                       if row[0] in hashes and (row[1] == "done" or _failed_since(row[1:], row[0], failed_before))}
        return hashes - settled

    # --- verifying -------------------------------------------------------------
    def check(self, hashes: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """Decode every ``done`` run (only those among ``hashes`` when given): config, summary, outcome,
        data set and trace, as :meth:`get` does. Returns ``(config_hash, reason)`` for each that does not decode."""
        wanted = None if hashes is None else set(hashes)
        bad = []
        with self._read() as db:
            cur = db.execute(_DECODE_SELECT + " WHERE r.status = 'done' ORDER BY r.rowid")
            for row in iter(cur.fetchone, None):
                if wanted is not None and row[0] not in wanted:
                    continue
                try:
                    self._decode(row)
                except StoreError as exc:
                    bad.append((row[0], exc.problem.split(": ", 1)[-1]))
        return bad

    def mark_damaged(self, config_hash: str, reason: str) -> None:
        """Turn a ``done`` run whose data does not decode into a ``failed`` one, so a resumed sweep runs
        it again; its ``finished_at`` is kept (the time its data was written)."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET status = 'failed', error = ? WHERE config_hash = ? AND status = 'done'",
                         (_one_line(f"stored data does not decode: {reason}"), config_hash))

    # --- reading -------------------------------------------------------------
    def done_hashes(self, hashes: Iterable[str] | None = None) -> set[str]:
        """The config hashes with status ``done`` (only those among ``hashes`` when given)."""
        with self._read() as db:
            done = {r[0] for r in db.execute("SELECT config_hash FROM runs WHERE status = 'done'")}
        return done if hashes is None else done.intersection(hashes)

    def get(self, config_hash: str) -> RunResult:
        """The stored run with this config hash (or a unique prefix of it), rebuilt as a :class:`RunResult`
        (its diagnosis made again from the stored trace)."""
        h = self._resolve(config_hash)
        with self._read() as db:
            row = db.execute(_DECODE_SELECT + " WHERE r.config_hash = ?", (h,)).fetchone()
        if row is None:
            raise StoreError(self.path, f"no run with config hash {h}")
        result = self._decode(row)
        result.diagnosis = diagnose(result).to_dict()
        return result

    def _decode(self, row: tuple) -> RunResult:
        """A row of :data:`_DECODE_SELECT` as a RunResult (no diagnosis); StoreError when it does not decode."""
        h, status, config, summary, outcome, dataset, duration_s, error, encoding, data = row
        if status != "done":
            raise StoreError(self.path, f"run {h[:12]} failed, nothing to load: {error}")
        if encoding != TRACE_ENCODING:
            raise StoreError(self.path, f"run {h[:12]} has trace encoding {encoding!r}; "
                                        f"this version reads {TRACE_ENCODING!r}")
        try:
            trace = Trace.from_dict(codec.loads(zlib.decompress(data)))
            run_config = RunConfig.make(json.loads(config))
            if not isinstance(_loads(summary), dict):
                raise ValueError("the summary is not a mapping")
            return RunResult(run_config.model_dump(), trace, TrainOutcome(**_loads(outcome)), _loads(dataset),
                             _num(duration_s), command="vanishing run " + run_config.flags())
        except (zlib.error, ValueError, TypeError, KeyError, VanishingError) as exc:
            raise StoreError(self.path, f"run {h[:12]} cannot be read back: {_one_line(str(exc))}") from None

    def rows(self, where: Sequence[str] = (), sweep: str | None = None) -> list[dict[str, Any]]:
        """One flat dict per run, in the order stored, filtered by ``where`` clauses and ``sweep`` name.

        Keys: every RunConfig field, ``status``, every summary metric, ``verdict``, ``duration_s``,
        ``error``, ``config_hash``, ``finished_at``. Metrics of failed runs are ``None``.

        ``where`` clauses are ``field OP value`` with OP one of ``= != < <= > >=``, e.g.
        ``"activation=sigmoid"``, ``"depth>=10"``, ``"verdict!=healthy"``; the value is typed like the
        field (numbers compare as numbers, ``true``/``false`` for flags, else text) and all clauses
        must hold. A missing (``None``) or NaN value matches no clause, as NULL does in SQL.
        """
        if isinstance(where, str):
            where = [where]
        sql = ("SELECT r.config_hash, r.status, r.config, r.summary, r.verdict, r.duration_s, r.error,"
               " r.finished_at FROM runs r")
        args: tuple = ()
        if sweep is not None:
            sweep_id = self._sweep_id(sweep)
            sql += " JOIN sweep_runs m ON m.config_hash = r.config_hash WHERE m.sweep_id = ?"
            args = (sweep_id,)
        with self._read() as db:
            raw = db.execute(sql + " ORDER BY r.rowid", args).fetchall()
        fields = list(RunConfig.model_fields)
        defaults = {f: RunConfig.model_fields[f].default for f in fields}
        summaries = [_loads(r[3]) if r[3] else {} for r in raw]
        metrics: dict[str, None] = {}  # ordered union of the summary keys
        for s in summaries:
            metrics.update(dict.fromkeys(k for k in s if k != "duration_s"))
        out = []
        for (h, status, config, _, verdict, duration_s, error, finished_at), s in zip(raw, summaries):
            row = {**defaults, **json.loads(config), "status": status}
            row.update({k: s.get(k) for k in metrics})
            row.update(verdict=verdict, duration_s=duration_s, error=error, config_hash=h,
                       finished_at=finished_at)
            out.append(row)
        tests = [_parse_clause(c, fields, list(metrics)) for c in where]
        return [row for row in out if all(test(row) for test in tests)]

    def sweeps(self) -> list[dict[str, Any]]:
        """Every recorded sweep: ``id, name, spec, created_at`` and counts ``members, done, failed``."""
        with self._read() as db:
            raw = db.execute(
                "SELECT s.id, s.name, s.spec, s.created_at, count(m.config_hash),"
                " count(CASE WHEN r.status = 'done' THEN 1 END), count(CASE WHEN r.status = 'failed' THEN 1 END)"
                " FROM sweeps s LEFT JOIN sweep_runs m ON m.sweep_id = s.id"
                " LEFT JOIN runs r ON r.config_hash = m.config_hash GROUP BY s.id ORDER BY s.id").fetchall()
        return [{"id": i, "name": n, "spec": _loads(spec), "created_at": c, "members": m, "done": d, "failed": f}
                for i, n, spec, c, m, d, f in raw]

    def __len__(self) -> int:
        """Number of runs stored (done and failed)."""
        with self._read() as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]

    def __contains__(self, config_hash: object) -> bool:
        with self._read() as db:
            return db.execute("SELECT 1 FROM runs WHERE config_hash = ?", (config_hash,)).fetchone() is not None

    # --- internals -------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(self.path, "store is closed")
        if self._pid != os.getpid():
            # a forked child must not use its parent's connection (SQLite's rule); it gets its own
            _INHERITED.append(self._conn)  # never closed here: closing could disturb the parent's locks
            self._connect(create=False)
        return self._conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """sqlite3 errors → one-line StoreError naming the path."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(self.path, f"{exc} (another writer held it for over {BUSY_TIMEOUT_S:g} s)") from None
            if "readonly" in str(exc) and getattr(self, "readonly", False):
                raise StoreError(self.path, f"{exc} (opened read-only: the file or its folder cannot be written, "
                                            "or read-only was asked for)") from None
            raise StoreError(self.path, str(exc)) from None
        except sqlite3.DatabaseError as exc:
            if type(exc) is sqlite3.DatabaseError:  # SQLITE_CORRUPT / SQLITE_NOTADB
                raise StoreError(self.path, f"corrupt or not an SQLite database ({exc})") from None
            raise StoreError(self.path, str(exc)) from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._errors():
            yield self._db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front, so a writer waits
        (busy_timeout) instead of failing halfway on a lock upgrade."""
        with self._lock, self._errors():
            conn = self._db
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _open_schema(self, create: bool) -> None:
        if self._check_schema():
            return
        if not create:
            raise StoreError(self.path, "empty database, not a vanishing results store")
        with self._write() as conn:
            if self._check_schema():  # another process created it while we waited for the lock
                return
            # one statement at a time: executescript() would COMMIT our transaction
            for statement in filter(str.strip, _SCHEMA.split(";")):
                conn.execute(statement)
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
                ("app_id", APP_ID), ("schema_version", str(SCHEMA_VERSION)), ("created_at", _now()),
                ("created_by", f"vanishing {_version()}")])
            self._version = SCHEMA_VERSION

    def _migrate(self) -> None:
        """Bring an older file to :data:`SCHEMA_VERSION`, one version at a time, in one transaction.

        Done only when a newer feature is used (a sweep claiming runs), so that reading or adding
        runs leaves an old file readable by the version of vanishing that wrote it.
        """
        if self._version >= SCHEMA_VERSION:
            return
        with self._write() as conn:
            self._check_schema()  # another process may have migrated it while we waited for the lock
            for version in range(self._version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[version]:
                    conn.execute(statement)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            self._version = SCHEMA_VERSION

    def _check_schema(self) -> bool:
        """True when the file holds our schema (of this version or an older one, in ``self._version``);
        False when it has no tables; else StoreError."""
        tables = sorted(r[0] for r in self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"))
        if not tables:
            return False
        meta = {}
        if "meta" in tables:
            try:
                meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            except (sqlite3.OperationalError, ValueError):
                meta = {}
        if meta.get("app_id") != APP_ID:
            raise StoreError(self.path, f"not a vanishing results store (it has tables {', '.join(tables)})")
        version = meta.get("schema_version", "?")
        if not version.isdigit() or not 1 <= int(version) <= SCHEMA_VERSION:
            newer = version.isdigit() and int(version) > SCHEMA_VERSION
            raise StoreError(self.path, f"schema version {version}; this version of vanishing reads versions 1 to "
                                        f"{SCHEMA_VERSION}" + (" (upgrade vanishing to read it)" if newer else ""))
        self._version = int(version)
        missing = {t for t in _OURS if _ADDED_IN.get(t, 1) <= self._version} - set(tables)
        if missing:
            raise StoreError(self.path, f"damaged results store (missing tables {', '.join(sorted(missing))})")
        return True

    def _sweep_id(self, name: str) -> int:
        with self._read() as db:
            names = dict(db.execute("SELECT name, id FROM sweeps ORDER BY id").fetchall())
        if name not in names:
            raise ConfigError("sweep", name, list(names) or "a sweep recorded in this store (none yet)")
        return names[name]

    def _resolve(self, prefix: str) -> str:
        prefix = str(prefix).strip().lower()
        if not re.fullmatch(r"[0-9a-f]{1,64}", prefix):
            raise StoreError(self.path, f"no run with config hash {prefix!r} (a hex sha256 or a prefix of one)")
        with self._read() as db:
            found = [r[0] for r in db.execute(
                "SELECT config_hash FROM runs WHERE config_hash >= ? AND config_hash < ? LIMIT 2",
                (prefix, prefix + "g"))]
        if not found:
            raise StoreError(self.path, f"no run with config hash {prefix}")
        if len(found) > 1:
            raise StoreError(self.path, f"config hash prefix {prefix} is ambiguous; give more digits")
        return found[0]


class SweepSpecChanged(StoreError):
    """A sweep name already stored with another spec (``keys``: the top-level spec keys that differ)."""

    def __init__(self, path: Any, name: str, keys: list[str]):
        self.name, self.keys = name, keys
        verb = "differs" if len(keys) == 1 else "differ"
        super().__init__(path, f"sweep {name!r} is stored with another spec ({', '.join(keys)} {verb}); "
                               "give this one a new name, or replace the stored spec")


# --- helpers -------------------------------------------------------------------
def _writable(path: Path) -> bool:
    """Whether SQLite can write ``path``: the file (when it exists) and its folder (journal files go there)."""
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))


def _failed_since(row: tuple, h: str, failed_before: Mapping[str, str] | None) -> bool:
    """``row`` = (status, finished_at): a failure stored after ``failed_before`` was read."""
    return failed_before is not None and row[0] == "failed" and failed_before.get(h) != row[1]


def _changed_keys(old: Any, new: Any) -> list[str]:
    """The top-level keys whose values differ between two stored specs (all of them when not mappings)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [] if old == new else ["spec"]
    return [k for k in dict.fromkeys([*old, *new]) if old.get(k) != new.get(k)]


def _check_file(path: Path, create: bool) -> None:
    """Refuse what is clearly not ours before SQLite touches it (it would make or misread it)."""
    if path.is_dir():
        raise StoreError(path, "is a folder, not a file")
    if not path.exists():
        if not create:
            raise StoreError(path, "no such file")
        if not path.parent.is_dir():
            raise StoreError(path, f"folder {str(path.parent)!r} does not exist")
        return
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(path, f"cannot read it ({exc.strerror or exc})") from None
    if head and head != _SQLITE_MAGIC:
        kind = "a text file" if _looks_like_text(path) else "a binary file"
        raise StoreError(path, f"not an SQLite database ({kind}), so not a vanishing results store")
    if not head and not create:
        raise StoreError(path, "empty file, not a vanishing results store")


def _looks_like_text(path: Path) -> bool:
    with open(path, "rb") as f:
        chunk = f.read(4096)
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in chunk


def _parse_clause(clause: str, config_fields: list[str], metrics: list[str]) -> Callable[[dict], bool]:
    """``"depth>=10"`` → a predicate on a row dict (see :meth:`Store.rows`)."""
    known = config_fields + ["status"] + metrics + list(_ROW_STR[1:]) + ["duration_s"]
    m = _CLAUSE.match(str(clause))
    # with no finished run stored the metric names are unknown; such a clause then matches nothing
    if not m or not m.group(3) or (m.group(1) not in known and metrics):
        raise ConfigError("where", clause, "field OP value (OP one of = != < <= > >=) with field one of: "
                          + ", ".join(known))
    name, op, text = m.group(1), m.group(2).replace("==", "="), m.group(3)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]
    compare = _OPS[op]

    def typed(kind: type) -> Any:
        if kind is bool:
            if text.lower() in ("true", "1", "yes"):
                return True
            if text.lower() in ("false", "0", "no"):
                return False
            raise ConfigError("where", clause, f"true or false after {name}{op}")
        if kind in (int, float):
            try:
                return float(text)
            except ValueError:
                raise ConfigError("where", clause, f"a number after {name}{op}") from None
        return text

    # the value's type: fixed for config fields and the bookkeeping columns, else the stored value's
    fixed = {f: RunConfig.model_fields[f].annotation for f in config_fields if f in RunConfig.model_fields}
    fixed.update(dict.fromkeys(_ROW_STR, str), duration_s=float)
    if name in fixed:
        value = typed(fixed[name])  # a typo'd number fails here, before any row is read

    def test(row: dict[str, Any]) -> bool:
        v = row.get(name)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return False
        w = value if name in fixed else typed(bool if isinstance(v, bool) else type(v))
        if isinstance(w, str):
            v = str(v)
        return bool(compare(v, w))

    return test


def _config_dict(config: RunConfig | Mapping[str, Any]) -> dict[str, Any]:
    return dict(config) if isinstance(config, Mapping) else config.model_dump()


def _config_json(config: RunConfig | Mapping[str, Any]) -> str:
    return json.dumps(_config_dict(config), allow_nan=False)  # plain JSON: a config is always finite


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("vanishing")
    except Exception:  # noqa: BLE001 — metadata is decoration only
        return "unknown"


def _one_line(text: str) -> str:
    """An error as one line: a traceback's last line (the exception), else the lines joined."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    if lines[0].startswith("Traceback"):
        return lines[-1]
    return " ".join(lines)


def _real(x: Any) -> float | None:
    return None if x is None else float(x)


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def _loads(text: str | None) -> Any:
    return None if text is None else codec.loads(text)
