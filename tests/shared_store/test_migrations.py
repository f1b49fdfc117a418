"""The same migrations on both engines: the run store and the facts store, created on SQLite and on
PostgreSQL from the same SQL, have the same tables, columns (name, order, type, NOT NULL, key) and
indexes. `yanbao_schema` (PostgreSQL's stand-in for SQLite's `PRAGMA user_version`) is the only extra."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pipeline.facts.store import SCHEMA_VERSION, FactStore
from pipeline.run.store import MIGRATIONS, RunStore

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")

PG_TYPES = {"text": "TEXT", "bigint": "INTEGER", "double precision": "REAL"}
Schema = dict[str, list[tuple[str, str, bool, int]]]


def sqlite_schema(path: Path) -> tuple[Schema, set[str]]:
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        schema: Schema = {}
        for t in tables:
            rows = conn.execute(f"PRAGMA table_info({t})").fetchall()  # cid, name, type, notnull, default, pk
            # an INTEGER PRIMARY KEY is NOT NULL in SQLite too (it is the rowid), whatever table_info says
            schema[t] = [(r[1], r[2], bool(r[3]) or r[5] > 0, r[5]) for r in rows]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL")}
    return schema, indexes


def pg_schema(url: str) -> tuple[Schema, set[str]]:
    with psycopg.connect(url) as conn:
        cols = conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type, c.is_nullable = 'NO', "
            "COALESCE(k.ordinal_position, 0) FROM information_schema.columns c "
            "LEFT JOIN information_schema.table_constraints tc ON tc.table_name = c.table_name "
            "  AND tc.table_schema = c.table_schema AND tc.constraint_type = 'PRIMARY KEY' "
            "LEFT JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name "
            "  AND k.table_schema = c.table_schema AND k.column_name = c.column_name "
            "WHERE c.table_schema = current_schema() ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
            if not r[0].endswith("_pkey")
        }
    schema: Schema = {}
    for table, name, dtype, notnull, pk in cols:
        schema.setdefault(table, []).append((name, PG_TYPES.get(dtype, dtype), notnull, pk))
    return schema, indexes


def test_run_store_migrations_match(tmp_path: Path, postgres_url: str) -> None:
    RunStore(tmp_path / "yanbao.db")
    store = RunStore(postgres_url)
    lite, lite_idx = sqlite_schema(tmp_path / "yanbao.db")
    pg, pg_idx = pg_schema(postgres_url)
    assert set(lite) == {"runs", "steps", "calls", "cache", "job_runs"}
    assert pg.pop("yanbao_schema") == [("name", "TEXT", True, 1), ("version", "INTEGER", True, 0)]
    assert pg == lite
    assert pg_idx == lite_idx == {"calls_run", "job_runs_job"}
    assert store._conn().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_facts_store_migrations_match(tmp_path: Path, postgres_url: str) -> None:
    FactStore(tmp_path / "facts.db").close()
    FactStore(postgres_url).close()
    lite, lite_idx = sqlite_schema(tmp_path / "facts.db")
    pg, pg_idx = pg_schema(postgres_url)
    pg.pop("yanbao_schema")
    assert set(lite) == {"sources", "facts", "meta", "term_df", "fact_terms"}
    assert pg == lite
    assert pg_idx == lite_idx
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM yanbao_schema WHERE name = 'facts'").fetchone()[0] == SCHEMA_VERSION


def test_both_stores_share_one_database(postgres_url: str) -> None:
    """One `store` URL holds both: their tables do not collide and each keeps its own version."""
    RunStore(postgres_url)
    FactStore(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        versions = dict(conn.execute("SELECT name, version FROM yanbao_schema").fetchall())
    assert versions == {"runs": len(MIGRATIONS), "facts": SCHEMA_VERSION}


def test_a_newer_facts_schema_is_refused_on_postgresql(postgres_url: str) -> None:
    from pipeline.facts.store import FactsError

    FactStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE yanbao_schema SET version = version + 1 WHERE name = 'facts'")
    with pytest.raises(FactsError, match="newer than this yanbao"):
        FactStore(postgres_url)


def test_the_seam_answers_like_sqlite(tmp_path: Path, postgres_url: str) -> None:
    """The same statements, the same answers: literal %, ? inside quotes, numbered parameters, rows by
    index and by name, booleans stored as integers, lastrowid."""
    from pipeline.run.db import PgConnection

    lite = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    lite.row_factory = sqlite3.Row
    pg = PgConnection(postgres_url, "probe")
    for conn in (lite, pg):
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, flag INTEGER NOT NULL, v REAL, s TEXT)")
    answers = []
    for conn in (lite, pg):
        first = conn.execute("INSERT INTO t (flag, v, s) VALUES (?, ?, ?)", (True, 0.1 + 0.2, "百分之5%")).lastrowid
        second = conn.execute("INSERT INTO t (flag, v, s) VALUES (?, ?, ?)", (False, 1e-9, "?")).lastrowid
        row = conn.execute("SELECT id, flag, v, s, '5%' AS pct, '?' AS q FROM t WHERE s LIKE ?1 ESCAPE '\\' OR s = ?2 ORDER BY id",
                           ("%5\\%", "?")).fetchall()
        plain = conn.execute("SELECT 7 % 3").fetchone()
        answers.append((first, second, [tuple(r) for r in row], [dict(zip(r.keys(), r, strict=True)) for r in row][0]["s"],
                        plain[0]))
    assert answers[0] == answers[1]
    assert answers[1][2][0] == (1, 1, 0.1 + 0.2, "百分之5%", "5%", "?")  # a double stays a double
