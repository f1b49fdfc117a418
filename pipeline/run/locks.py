"""Exclusive locks: one report written by one process, one scheduled job run by one scheduler.

With the embedded store (SQLite in the out folder) a lock is a `flock` on a file under
`<out>/.locks/`, as it always was: it dies with its process and needs nothing else. When the store is
shared (`store = "postgresql://…"`), the processes that compete may run on different machines, where
`flock` on a network folder is not to be trusted; the lock is then a PostgreSQL session advisory lock
(`pg_try_advisory_lock`) on a name, held by a connection of its own, so it dies with its process (or
its connection) just the same. Both are non-blocking: the caller is told and decides (skip the job,
refuse the run).

`SessionLocks` is the run store's use of the same mechanism: a run or a job execution marked
`running` holds a lock while its process works on it, so any machine can tell a live run from an
interrupted one (a pid means nothing on another machine).
"""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

from pipeline.run.db import PgConnection, connect_raw, is_url, key_parts, lock_key, wrap_error


class Exclusive:
    """Context manager: try to take the lock `name` (advisory, shared store) or `path` (flock, local
    store) without waiting. `acquired` says whether this process holds it until the block ends."""

    def __init__(self, store: str | Path | None, name: str, path: Path) -> None:
        self.store = store
        self.name = name
        self.path = path
        self.acquired = False
        self._fh: IO[str] | None = None
        self._pg: psycopg.Connection | None = None

    def __enter__(self) -> Exclusive:
        if is_url(self.store):
            import psycopg

            url = str(self.store)
            self._pg = pg = connect_raw(url, "yanbao lock")
            try:
                row = pg.execute("SELECT pg_try_advisory_lock(%s)", [lock_key(self.name)]).fetchone()
            except psycopg.Error as exc:
                pg.close()
                self._pg = None
                raise wrap_error(exc, url) from None
            self.acquired = bool(row and row[0])
            if not self.acquired:
                pg.close()
                self._pg = None
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")  # noqa: SIM115 - held for the whole block
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.acquired = True
        except BlockingIOError:
            self.acquired = False
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pg is not None:
            _unlock_and_close(self._pg)
            self._pg = None
        if self._fh is not None:
            if self.acquired:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class SessionLocks:
    """Named advisory locks held by one PostgreSQL session of their own, for as long as this process
    works on what they name; `held` answers, for any machine, which of some names are held right now."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection | None = None
        self._mutex = threading.Lock()
        self._held: set[str] = set()

    def _session(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect_raw(self.url, "yanbao run locks")
            self._held.clear()  # a new session holds nothing (a lost one released everything)
        return self._conn

    def hold(self, name: str) -> bool:
        """Take `name` unless another session holds it; True when this process holds it now."""
        import psycopg

        with self._mutex:
            if name in self._held:
                return True
            try:
                row = self._session().execute("SELECT pg_try_advisory_lock(%s)", [lock_key(name)]).fetchone()
            except psycopg.Error as exc:
                raise wrap_error(exc, self.url) from None
            if row and row[0]:
                self._held.add(name)
                return True
            return False

    def release(self, name: str) -> None:
        """Let `name` go (nothing happens when it is not held, or the session is already gone)."""
        import psycopg

        with self._mutex:
            if name not in self._held:
                return
            self._held.discard(name)
            if self._conn is None or self._conn.closed or self._conn.broken:
                return
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", [lock_key(name)])
            except psycopg.Error:
                pass  # the session is gone with the server: so is the lock

    def close(self) -> None:
        with self._mutex:
            if self._conn is not None:
                _unlock_and_close(self._conn)
            self._conn = None
            self._held.clear()


def _unlock_and_close(conn: psycopg.Connection) -> None:
    """Release the session's advisory locks, then close it. Closing alone releases them too, but only
    once the server has noticed the disconnect, a moment later: another process asking right after
    would still see them held."""
    import psycopg

    try:
        if not (conn.closed or conn.broken):
            conn.execute("SELECT pg_advisory_unlock_all()")
    except psycopg.Error:
        pass  # a session the server dropped holds nothing any more
    finally:
        conn.close()


def held(conn: PgConnection, names: list[str]) -> set[str]:
    """Which of `names` some session of this database holds as an advisory lock right now (one query)."""
    if not names:
        return set()
    rows = conn.execute(
        "SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchall()
    taken = {(int(r[0]), int(r[1])) for r in rows}
    return {n for n in names if key_parts(lock_key(n)) in taken}
