"""The command line's surface: `--version`, one `yanbao:` prefix on every error line (the commands'
own and typer/click usage errors alike), and help that shows every default and the allowed values."""

from __future__ import annotations

import re
import subprocess
from importlib.metadata import version

import pytest
from clikit import Result, assert_one_line_error, clean_env, yanbao_cmd


def wide(*args: str, cwd) -> Result:
    env = {**clean_env(), "COLUMNS": "250"}  # help lines unwrapped
    proc = subprocess.run(yanbao_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_version(yanbao):
    res = yanbao("--version")
    assert res.code == 0 and res.stderr == ""
    assert res.stdout == f"yanbao {version('yanbao')}\n" == "yanbao 0.1.0\n"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["check", "missing.md"], 2, "missing.md"),  # the facts room's own error line
        (["check"], 2, "Missing argument"),  # usage: a missing file argument
        (["diff", "old.md"], 2, "Missing argument"),
        (["diff", "old.md", "new.md"], 2, "old.md"),
        (["run", "人工智能", "--llm", "gpt"], 2, "'gpt' is not one of 'auto', 'ollama', 'extractive'"),
        (["run", "人工智能", "--max-loops", "three"], 2, "--max-loops"),
        (["run", "人工智能", "--bogus"], 2, "--bogus"),
        (["run"], 2, "missing topic"),
        (["nosuch"], 2, "nosuch"),
        (["schedule", "run", "x", "--jobs", "nope.toml", "--now"], 2, "nope.toml"),
        (["runs", "list", "--out", "empty"], 1, "no run store"),
    ],
)
def test_every_error_is_one_yanbao_line(yanbao, args, code, needle):
    res = yanbao(*args)
    assert_one_line_error(res, code, needle)
    assert not re.search(r"(?mi)^error", res.stderr)


def option_blocks(help_text: str) -> dict[str, str]:
    """`--flag` → its whole help cell (rich may still wrap a long one over several lines)."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        m = re.match(r"^│ (--[\w-]+)", line)
        if m:
            current = m.group(1)
            blocks[current] = line
        elif current and line.startswith("│ ") and not line.startswith("│ -"):
            blocks[current] += " " + line
        elif not line.startswith("│"):
            current = None
    return {k: " ".join(v.replace("│", " ").split()) for k, v in blocks.items()}


EXPECTED_RUN = {
    "--kind": ("research", "<research|digest|commentary>"),
    "--llm": ("auto", "<auto|ollama|extractive|openai|langchain>"),
    "--search": ("auto", "<auto|duckduckgo|local>"),
    "--model": ("qwen2.5:7b", None),
    "--max-loops": ("3", None),
    "--breadth": ("3", None),
    "--concurrency": ("2", None),
    "--num-ctx": ("8192", None),
    "--num-predict": ("1024", None),
    "--temperature": ("0.3", None),
    "--seed": ("42", None),
    "--fetch-pages": ("3", None),
    "--max-retries": ("2", None),
    "--out": ("outputs", None),
    "--base-url": ("$OPENAI_BASE_URL or http://127.0.0.1:8000/v1", None),
    "--format": ("md", None),
    "--overwrite": ("off", None),
    "--quiet": ("off", None),
    "--queue": ("off", None),
}


def test_run_help_shows_every_default_and_the_choices(tmp_path):
    res = wide("run", "--help", cwd=tmp_path)
    assert res.code == 0, res.stderr
    blocks = option_blocks(res.stdout)
    assert len(blocks) == 29, sorted(blocks)  # 28 flags and --help
    for flag, text in blocks.items():
        if flag != "--help":
            assert "[default: " in text, text
    for flag, (default, choices) in EXPECTED_RUN.items():
        assert f"[default: ({default})]" in blocks[flag], blocks[flag]
        if choices:
            assert choices in blocks[flag], blocks[flag]
    assert "md, html" in blocks["--format"]
    assert "yanbao.toml" in res.stdout  # the built-in defaults can be changed there


def test_digest_help_shares_the_declarations(tmp_path):
    res = wide("digest", "--help", cwd=tmp_path)
    assert res.code == 0, res.stderr
    blocks = option_blocks(res.stdout)
    assert "<auto|ollama|extractive|openai|langchain>" in blocks["--llm"] and "[default: (auto)]" in blocks["--llm"]
    assert "[default: (off)]" in blocks["--overwrite"]
    for flag, text in blocks.items():
        if flag != "--help":
            assert "[default: " in text, text
