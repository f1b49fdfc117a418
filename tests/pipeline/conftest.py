"""Fixtures for end-to-end runs: a copy of the fixture corpus and a `yanbao` subprocess runner.

The CLI runs as a real subprocess (as users and schedulers run it), against the fake Ollama HTTP
server from tests/fake_ollama.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FIXTURE_CORPUS = Path(__file__).resolve().parent.parent / "fixtures" / "corpus"
YANBAO = [sys.executable, "-m", "pipeline.cli"]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> Path:
        return Path(self.stdout.strip().splitlines()[-1])

    @property
    def manifest(self) -> dict:
        return json.loads(self.report.with_name(self.report.name[:-3] + ".run.json").read_text(encoding="utf-8"))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, dest)
    return dest


@pytest.fixture
def yanbao(tmp_path: Path):
    """Run `yanbao ARGS...` in tmp_path with a clean environment; returns a Result."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YANBAO_", "OLLAMA_"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])

    def run(*args: str, timeout: float = 120) -> Result:
        proc = subprocess.run(
            [*YANBAO, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run
