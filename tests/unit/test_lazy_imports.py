"""`yanbao --help` (and the help of the commands that reach LangChain and MCP) loads neither: both are
optional extras and slow to import (LangChain ~1 s with langgraph), and start-up time matters."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from clikit import clean_env

PROBE = """
import json, sys
sys.argv = ["yanbao", *json.loads(sys.argv[1])]
from pipeline.cli import app as cli
try:
    cli.main()
except SystemExit as done:
    code = done.code
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("langchain", "langchain_core", "langgraph", "mcp", "anyio"))
sys.__stdout__.write("\\nMODULES " + json.dumps({"code": code, "heavy": heavy}) + "\\n")
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["mcp", "--help"], ["--version"]])
def test_help_imports_no_langchain_and_no_mcp(args, tmp_path):
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    seen = json.loads(line[len("MODULES "):])
    assert seen["code"] in (0, None), proc.stderr
    assert seen["heavy"] == []
    assert "Usage" in proc.stdout or proc.stdout.startswith("yanbao 0.")  # it did print the help


def test_the_probe_sees_an_import_when_there_is_one(tmp_path):
    """The check above can fail: importing the LangChain tool module does load langchain_core."""
    pytest.importorskip("langchain_core")
    code = "import sys, pipeline.integrations.langchain; print('langchain_core' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "True", proc.stderr
