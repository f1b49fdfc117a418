"""Fixtures for the scheduler: a jobs file writer, the fixture corpus, and `yanbao` as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, dest)
    return dest


@pytest.fixture
def write_jobs(tmp_path: Path):
    """Write `text` as tmp_path/jobs.toml and return its path."""

    def write(text: str, name: str = "jobs.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def yanbao(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YANBAO_", "OLLAMA_"))}
    env["PYTHONPATH"] = str(ROOT)

    def run(*args: str, timeout: float = 120) -> Result:
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=timeout,
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
