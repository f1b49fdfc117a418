"""Fault-injection fixtures: real `yanbao` subprocesses against the fake Ollama HTTP server."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from faultkit import FIXTURE_CORPUS, clean_env, yanbao_cmd


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    dest = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, dest)
    return dest


@pytest.fixture
def run_yanbao():
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(yanbao_cmd(*args), env=clean_env(), capture_output=True, text=True, timeout=timeout)

    return run
