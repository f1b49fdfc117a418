"""Shared helpers for tests that run `yanbao` as users and schedulers do: a real subprocess, a clean
environment, and the report, manifest and stderr it leaves behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"
PROJECT_SOURCES = ROOT / "sources"


def clean_env(extra: dict[str, str] | None = None) -> dict:
    """The environment without YANBAO_*, OLLAMA_* and OPENAI_* settings (a developer's own key or
    server must not reach the tests), with the checkout importable; `extra` is added on top."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YANBAO_", "OLLAMA_", "OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def yanbao_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli.app", *args]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> Path:
        """The report path: the last line on stdout."""
        return Path(self.stdout.strip().splitlines()[-1])

    @property
    def text(self) -> str:
        return self.report.read_text(encoding="utf-8")

    @property
    def manifest(self) -> dict:
        return json.loads(self.report.with_name(self.report.name[:-3] + ".run.json").read_text(encoding="utf-8"))


def run_cli(*args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
    proc = subprocess.run(yanbao_cmd(*args), cwd=cwd, env=clean_env(env), capture_output=True, text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_in_order(text: str, needles: list[str]) -> None:
    pos = 0
    for needle in needles:
        found = text.find(needle, pos)
        assert found >= 0, f"missing or out of order: {needle!r}"
        pos = found + len(needle)


def assert_one_line_error(res: Result, code: int, *needles: str) -> None:
    """Bad input and failures: exactly one line on stderr, starting `yanbao: `, naming what is wrong."""
    assert res.code == code, (res.code, res.stderr)
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("yanbao: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in res.stderr
