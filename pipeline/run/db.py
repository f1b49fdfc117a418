"""PostgreSQL behind the sqlite3 interface the run store and the facts store are written against.

Both stores speak a small subset of `sqlite3`: `execute`/`executemany` with `?` placeholders,
`fetchone`/`fetchall`/iteration, `lastrowid`, `INSERT OR REPLACE`/`OR IGNORE`, `PRAGMA user_version` and
`BEGIN IMMEDIATE`. The embedded default (one SQLite file in the out folder) must stay exactly as fast and
behave exactly as it does, so its code path is not touched at all: a store whose target is a
`postgresql://` URL gets a `PgConnection` instead, which speaks the same subset and rewrites each SQL
string once (then cached) into PostgreSQL:

* placeholders `?` and `?N` become `%s` and `%(pN)s`; `LIKE` becomes `ILIKE` (SQLite's `LIKE` ignores
  ASCII case; give `ESCAPE` explicitly, as the facts store does: PostgreSQL's default escape is a backslash,
  SQLite has none);
* DDL types: `INTEGER PRIMARY KEY` is an identity column, `INTEGER` is `BIGINT` (SQLite integers are
  64-bit) and `REAL` is `DOUBLE PRECISION` (SQLite reals are doubles; PostgreSQL's `REAL` is 4 bytes,
  which would round every stored figure); `WITHOUT ROWID` is dropped. So one list of migrations serves
  both engines;
* `INSERT OR REPLACE` is an upsert on the table's primary key, `INSERT OR IGNORE` is `ON CONFLICT DO
  NOTHING`, and an insert into a table keyed by an integer `id` returns it (`lastrowid`);
* `PRAGMA user_version` is a row of `yanbao_schema` (one per store: `runs`, `facts`), other PRAGMAs
  are SQLite tuning and do nothing;
* `BEGIN IMMEDIATE` (SQLite's one writer at a time) is `BEGIN` plus a transaction-scoped advisory lock
  per store, so migrations and facts imports that compute ids from `MAX(id)` stay serialized across
  machines exactly as they are across processes on one SQLite file.

Why psycopg 3 with this seam rather than SQLAlchemy Core: both stores are plain SQL over sqlite3 today;
SQLAlchemy would mean rewriting every query of both (the facts store is tuned statement by statement)
and putting a second layer on the SQLite hot path the default users run on, for two dialects whose
differences above fit in one page. psycopg 3 is the PostgreSQL driver SQLAlchemy itself would use, its
binary wheel brings libpq, and it gives server-side parameters and pipelined `executemany` for free.

Errors: every psycopg error becomes `StoreError` (one line, password removed); a server that cannot be
reached or goes away mid-run (a restart) is `StoreUnavailable`, which callers treat as "stop cleanly,
the run can be resumed".
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
CONNECT_TIMEOUT_S = 10

Param = object  # a value psycopg can adapt: str, int, float, None, bytes
Params = Sequence[Param]
# A column's value as a row gives it. `Any`, as typeshed types `sqlite3.Row` and `Cursor.fetchone`: the
# table's schema, not Python, fixes each column's type, and the stores read rows of both engines alike.
Column: TypeAlias = Any


class StoreError(Exception):
    """The shared store refused or failed a statement. The message is one line, without a password."""


class StoreUnavailable(StoreError):
    """The shared store cannot be reached, or its server went away (restart, network): nothing of the
    interrupted statement is known to be stored, and the work can be resumed once it is back."""


def is_url(target: object) -> bool:
    """Whether a store target is a PostgreSQL URL (anything else is a SQLite file path)."""
    return isinstance(target, str) and target.startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL without its password, for messages and `yanbao config show`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "postgresql://…"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def lock_key(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name (blake2b: stable across processes and machines,
    unlike `hash()`)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "big", signed=True)


def key_parts(key: int) -> tuple[int, int]:
    """How `pg_locks` shows a bigint advisory key: (classid, objid), the high and low 32 bits."""
    k = key & 0xFFFFFFFFFFFFFFFF
    return k >> 32, k & 0xFFFFFFFF


def one_line(exc: BaseException, url: str) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(url, redact(url))


def wrap_error(exc: Exception, url: str) -> StoreError:
    """psycopg's error as ours: lost or refused connections are `StoreUnavailable`."""
    import psycopg

    lost = isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)
    cls = StoreUnavailable if lost else StoreError
    where = redact(url)
    if lost:
        return cls(f"the run store at {where} is unavailable: {one_line(exc, url)}")
    return cls(f"run store error ({where}): {one_line(exc, url)}")


def connect_raw(url: str, application: str) -> psycopg.Connection:
    """An autocommit psycopg connection, or `StoreUnavailable` naming the (redacted) URL."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=application)
    except psycopg.Error as exc:
        raise wrap_error(exc, url) from None


# -- rows and cursors ------------------------------------------------------------------------------


class PgRow:
    """A result row that behaves like `sqlite3.Row`: by index, by column name, `keys()`, iteration over
    values (so `dict(row)`, `row[0]`, `row["id"]` and tuple unpacking all work as on SQLite)."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: tuple[Column, ...]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str) -> Column:
        if isinstance(key, str):
            return self._values[self._names[key]]
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._names)

    def __iter__(self) -> Iterator[Column]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PgRow({dict(zip(self._names, self._values, strict=True))!r})"


# A row of either engine: sqlite3 gives tuples (or `sqlite3.Row`), `PgConnection` gives `PgRow`.
Row: TypeAlias = "tuple[Column, ...] | PgRow"


class PgCursor:
    """The result of one statement, read at once (the stores read small results or read them whole)."""

    def __init__(self, rows: list[PgRow], lastrowid: int | None = None, rowcount: int = -1) -> None:
        self._rows = rows
        self._next = 0
        self.lastrowid = lastrowid
        self.rowcount = rowcount

    def fetchone(self) -> Column:
        """The next row, None after the last. Typed as sqlite3's (`Any`): the stores index the first row
        of an aggregate (`COUNT`, `MAX`) directly, on either engine."""
        if self._next >= len(self._rows):
            return None
        row = self._rows[self._next]
        self._next += 1
        return row

    def fetchall(self) -> list[PgRow]:
        rows = self._rows[self._next :]
        self._next = len(self._rows)
        return rows

    def __iter__(self) -> Iterator[PgRow]:
        while (row := self.fetchone()) is not None:
            yield row


# -- SQL rewriting -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*|\?(\d*)|%")
_DDL = re.compile(r"^\s*(CREATE|ALTER)\b", re.IGNORECASE)
_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(REPLACE|IGNORE)\s+)?INTO\s+(\w+)\s*(?:\(([^)]*)\))?", re.IGNORECASE)
_PRAGMA = re.compile(r"^\s*PRAGMA\s+(\w+)\s*(?:=\s*(\d+))?\s*;?\s*$", re.IGNORECASE)
_BEGIN = re.compile(r"^\s*BEGIN(?:\s+(IMMEDIATE|EXCLUSIVE|DEFERRED))?\s*(?:TRANSACTION)?\s*;?\s*$", re.IGNORECASE)


@lru_cache(maxsize=2048)
def placeholders(sql: str) -> tuple[str, bool]:
    """`?` → `%s`, `?N` → `%(pN)s`, every literal `%` → `%%` (psycopg reads `%` inside quotes too; the
    statement is always sent with parameters, maybe none, so `%%` is always read back as `%`), comments
    dropped; a `?` inside string literals and quoted names stays. Returns the SQL and whether it used
    numbered parameters."""
    numbered = False

    def sub(m: re.Match[str]) -> str:
        nonlocal numbered
        tok = m.group(0)
        if tok.startswith(("'", '"')):
            return tok.replace("%", "%%")
        if tok.startswith("--"):
            return ""
        if tok == "%":
            return "%%"
        if m.group(1):
            numbered = True
            return f"%(p{m.group(1)})s"
        return "%s"

    return _TOKEN.sub(sub, sql), numbered


def ddl(sql: str) -> str:
    """SQLite column types as PostgreSQL ones of the same range (see the module docstring)."""
    sql = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", sql)
    sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
    sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)
    return re.sub(r"\)\s*WITHOUT ROWID", ")", sql)


def rewrite(sql: str, primary_key: dict[str, tuple[tuple[str, ...], bool]], returning: bool) -> tuple[str, bool]:
    """One SQLite statement as PostgreSQL. `primary_key` maps a table to (its key columns, whether the key
    is one integer `id`); `returning` asks an insert into such a table to return the id (lastrowid)."""
    if _DDL.match(sql):
        sql = ddl(sql)
    sql, numbered = placeholders(sql)
    sql = re.sub(r"\bLIKE\b", "ILIKE", sql)
    m = _INSERT.match(sql)
    if m is None:
        return sql, numbered
    verb, table = (m.group(1) or "").upper(), m.group(2)
    key, integer_id = primary_key.get(table.lower(), ((), False))
    body = "INSERT INTO " + sql[m.start(2) :] if verb else sql
    body = body.rstrip().rstrip(";")
    if verb == "IGNORE":
        body += " ON CONFLICT DO NOTHING"
    elif verb == "REPLACE":
        if not key:
            raise StoreError(f"INSERT OR REPLACE into {table}: the table has no primary key")
        cols = [c.strip().strip('"') for c in (m.group(3) or "").split(",") if c.strip()]
        rest = [c for c in cols if c not in key]
        conflict = ", ".join(key)
        if rest:
            body += f" ON CONFLICT ({conflict}) DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rest)
        else:
            body += f" ON CONFLICT ({conflict}) DO NOTHING"
    if returning and integer_id and "RETURNING" not in body.upper():
        body += " RETURNING id"
    return body, numbered


def bind(params: Params | None, numbered: bool) -> Sequence[Param] | dict[str, Param]:
    """Parameters as psycopg takes them, never None (see `placeholders`). Booleans are stored as 0/1,
    as SQLite stores them."""
    if params is None or len(params) == 0:
        return {} if numbered else []
    values = [int(v) if type(v) is bool else v for v in params]
    if numbered:
        return {f"p{i}": v for i, v in enumerate(values, start=1)}
    return values


# -- the connection ----------------------------------------------------------------------------------

_schema_ready: set[str] = set()
_schema_lock = threading.Lock()


class PgConnection:
    """One PostgreSQL session that answers the sqlite3 calls of one store (`name`: runs or facts).

    Like a sqlite3 connection opened with `isolation_level=None`, it is in autocommit mode until the
    store says `BEGIN`. Thread-safe as psycopg connections are (statements are serialized)."""

    def __init__(self, url: str, name: str) -> None:
        self.url = url
        self.name = name
        self._pg = connect_raw(url, f"yanbao {name}")
        self._writer_key = lock_key(f"yanbao:{name}:writer")
        self._keys: dict[str, tuple[tuple[str, ...], bool]] = {}
        self._sql: dict[tuple[str, bool], tuple[str, bool]] = {}
        self._guard = threading.RLock()
        self._ensure_schema_table()

    # sqlite3.Connection's subset ---------------------------------------------------------------

    def execute(self, sql: str, params: Params | None = ()) -> PgCursor:
        special = self._special(sql)
        if special is not None:
            return special
        text, numbered = self._rewrite(sql, returning=True)
        return self._run(text, bind(params, numbered))

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> PgCursor:
        text, numbered = self._rewrite(sql, returning=False)
        rows = [bind(p, numbered) for p in seq_of_params]
        if not rows:
            return PgCursor([])
        with self._guard:
            try:
                with self._live().cursor() as cur:
                    cur.executemany(text, rows)
                    return PgCursor([], rowcount=cur.rowcount)
            except Exception as exc:
                raise self._error(exc) from None

    def close(self) -> None:
        with self._guard:
            self._pg.close()

    @property
    def broken(self) -> bool:
        """The session is gone (closed, or lost with its server): a new connection is needed."""
        return self._pg.closed or self._pg.broken

    # internals ------------------------------------------------------------------------------------

    def _live(self) -> psycopg.Connection:
        """The session, opened again when the server dropped it: the statement that met the drop
        failed (`StoreUnavailable`), the next one finds the server back, or fails the same way."""
        if self._pg.closed or self._pg.broken:
            self._pg = connect_raw(self.url, f"yanbao {self.name}")
        return self._pg

    def _run(self, text: str, params: Sequence[Param] | dict[str, Param] | None) -> PgCursor:
        with self._guard:
            try:
                with self._live().cursor() as cur:
                    cur.execute(text, params)
                    rows: list[PgRow] = []
                    if cur.description is not None:
                        names = {d.name: i for i, d in enumerate(cur.description)}
                        rows = [PgRow(names, r) for r in cur.fetchall()]
                    last = None
                    if text.endswith(" RETURNING id") and rows:
                        last = int(rows[0][0])
                    return PgCursor(rows, lastrowid=last, rowcount=cur.rowcount)
            except Exception as exc:
                raise self._error(exc) from None

    def _error(self, exc: Exception) -> Exception:
        import psycopg

        if isinstance(exc, psycopg.Error):
            return wrap_error(exc, self.url)
        return exc

    def _rewrite(self, sql: str, returning: bool) -> tuple[str, bool]:
        hit = self._sql.get((sql, returning))
        if hit is None:
            m = _INSERT.match(sql)
            table = m.group(2).lower() if m is not None else None
            if table is not None:
                self._primary_key(table)
            hit = rewrite(sql, self._keys, returning)
            if table is None or table in self._keys:  # else: its table is not created yet, ask again
                self._sql[(sql, returning)] = hit
        return hit

    def _primary_key(self, table: str) -> None:
        """Look up (once) the key of `table` for upserts and `lastrowid`."""
        if table in self._keys:
            return
        rows = self._run(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY array_position(i.indkey::smallint[], a.attnum)",
            [table],
        ).fetchall()
        cols = tuple(str(r[0]) for r in rows)
        integer_id = cols == ("id",) and str(rows[0][1]) in ("bigint", "integer")
        if cols:  # a table not created yet is looked up again next time
            self._keys[table] = (cols, integer_id)

    def _special(self, sql: str) -> PgCursor | None:
        """PRAGMA and BEGIN, which have no direct PostgreSQL equivalent."""
        head = sql.lstrip()[:6].upper()
        if head.startswith("PRAGMA"):
            m = _PRAGMA.match(sql)
            if m is None or m.group(1).lower() != "user_version":
                return PgCursor([])  # SQLite tuning (WAL, busy timeout, cache size): nothing to do here
            if m.group(2) is None:
                return self._run(
                    "SELECT COALESCE((SELECT version FROM yanbao_schema WHERE name = %s), 0)", [self.name]
                )
            return self._run(
                "INSERT INTO yanbao_schema (name, version) VALUES (%s, %s) "
                "ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version",
                [self.name, int(m.group(2))],
            )
        if head.startswith("BEGIN"):
            m = _BEGIN.match(sql)
            if m is not None:
                self._run("BEGIN", None)
                if (m.group(1) or "").upper() in ("IMMEDIATE", "EXCLUSIVE"):
                    # SQLite's one writer at a time, for this store, across every process and machine
                    self._run("SELECT pg_advisory_xact_lock(%s)", [self._writer_key])
                return PgCursor([])
        return None

    def _ensure_schema_table(self) -> None:
        """`yanbao_schema` holds each store's schema version (SQLite keeps it in the file header)."""
        with _schema_lock:
            if self.url in _schema_ready:
                return
        exists = self._run("SELECT to_regclass('yanbao_schema') IS NOT NULL", None).fetchone()
        if not (exists and exists[0]):
            self._run("BEGIN", None)
            try:
                self._run("SELECT pg_advisory_xact_lock(%s)", [lock_key("yanbao:schema")])
                self._run("CREATE TABLE IF NOT EXISTS yanbao_schema (name TEXT PRIMARY KEY, version BIGINT NOT NULL)", None)
                self._run("COMMIT", None)
            except BaseException:
                if not self.broken:
                    self._run("ROLLBACK", None)
                raise
        with _schema_lock:
            _schema_ready.add(self.url)
