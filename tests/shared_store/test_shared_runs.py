"""Two machines, one PostgreSQL store: runs, cache and resume state are shared, whatever `--out`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from storekit import TOPIC, request_key, run_args, yanbao

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")


def test_runs_and_cache_are_shared_across_out_folders(postgres_url: str, fake_ollama, corpus: Path, tmp_path: Path) -> None:
    first = yanbao(postgres_url, *run_args(fake_ollama.url, corpus, tmp_path / "machine-a"))
    assert first.returncode == 0, first.stderr
    sent = Counter(request_key(r) for r in fake_ollama.requests)
    assert sent and max(sent.values()) == 1

    fake_ollama.reset()
    second = yanbao(postgres_url, *run_args(fake_ollama.url, corpus, tmp_path / "machine-b"))
    assert second.returncode == 0, second.stderr
    assert [r for r in fake_ollama.requests if r.get("messages")] == []  # every reply came from the shared cache
    a = Path(first.stdout.strip().splitlines()[-1])
    b = Path(second.stdout.strip().splitlines()[-1])
    assert a.parent.name == "machine-a" and b.parent.name == "machine-b"
    assert a.read_text(encoding="utf-8") == b.read_text(encoding="utf-8")
    assert not (tmp_path / "machine-a" / "yanbao.db").exists()  # the store is the database, not a file

    listed = yanbao(postgres_url, "runs", "list", "--out", str(tmp_path / "machine-c"))
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert [r[1] for r in rows] == ["done", "done"]
    assert {r[3] for r in rows} == {TOPIC}
    assert {r[4] for r in rows} == {str(a), str(b)}
