"""Fixtures: a small Chinese corpus with the awkward files a real sources folder has."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_corpus import write_corpus


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_corpus(tmp_path / "sources")


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "index.sqlite"
