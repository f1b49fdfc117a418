"""Fault-injection fixtures: real `yanbao` subprocesses against the fake Ollama HTTP server."""

from __future__ import annotations

import subprocess

import pytest
from faultkit import clean_env, yanbao_cmd


@pytest.fixture
def run_yanbao():
    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(yanbao_cmd(*args), env=clean_env(), capture_output=True, text=True, timeout=timeout)

    return run
