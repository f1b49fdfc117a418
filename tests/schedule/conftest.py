"""Fixtures for the scheduler: a jobs file writer, the fixture corpus, and `yanbao` as a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"



@pytest.fixture
def write_jobs(tmp_path: Path):
    """Write `text` as tmp_path/jobs.toml and return its path."""

    def write(text: str, name: str = "jobs.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


