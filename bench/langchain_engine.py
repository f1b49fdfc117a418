"""Benchmark: what the LangChain engine and the agent tools cost, beside the model's own time.

Prints its figures; it is not a test. Needs the extras (`.[test]` has them).
Run: .venv/bin/python bench/langchain_engine.py

* per-slot overhead of `--llm langchain` (LangChain's invoke, structured-output binding, our parse and
  validation) on LangChain's fake chat model, by route (tool calling, schema in the prompt): what a
  slot costs beyond the provider's answer, to set beside seconds per slot on a real model;
* the import LangChain costs when `--llm langchain` is chosen (paid once per run), and `yanbao --help`
  (target < 0.5 s; it must not import LangChain or MCP);
* `yanbao mcp`: from spawn to the first `tools/list` answer, and one `check_numbers` call.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fake_langchain import ScriptedChatModel  # noqa: E402

from pipeline.kinds.research.slots import Findings  # noqa: E402
from pipeline.llm.base import Options, Task  # noqa: E402
from pipeline.llm.langchain_engine import make_langchain_llm  # noqa: E402
from pipeline.models import TaskContext  # noqa: E402

SOURCES = sorted((ROOT / "sources").glob("*.md"))[:3]


def wall(cmd: list[str], runs: int, cwd: Path) -> float:
    """Median wall time of a command, with Python's .pyc cache on (any value of PYTHONDONTWRITEBYTECODE
    turns it off, and then every start compiles the package from source: not what a user sees)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env=env)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, capture_output=True, check=False, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def slot_overhead(tools: bool, n: int) -> float:
    """Median ms per slot on the fake model (whose own reply is built from the schema in ~1 ms)."""
    llm = make_langchain_llm("fake:bench", Options(), factory=lambda spec, **kw: ScriptedChatModel(tools=tools, **kw))
    text = "\n".join(p.read_text(encoding="utf-8")[:1500] for p in SOURCES)
    messages = [{"role": "system", "content": "你是一名严谨的中文研究分析师。"},
                {"role": "user", "content": f"资料：\n{text}\n\n写出关键发现。"}]
    times = []
    for i in range(n):
        task = Task(step=f"s{i}", kind="analysis", schema=Findings, messages=[*messages[:1], {**messages[1], "content": f"{i} {messages[1]['content']}"}],
                    context=TaskContext(topic="人工智能"))
        t = time.perf_counter()
        done = llm.complete(task)
        times.append(time.perf_counter() - t)
        assert done.value is not None, done.degraded
    return statistics.median(times) * 1000


def mcp_round_trip(cwd: Path) -> tuple[float, float]:
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "pipeline.cli.app", "mcp"], cwd=str(cwd),
                                   env={"PYTHONPATH": str(ROOT)})
    report = "微软在2025财年第四季度的资本开支达到242亿美元。谷歌母公司把2025年全年资本开支指引上调到880亿美元。"

    async def main() -> tuple[float, float]:
        t = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            ready = time.perf_counter() - t
            t = time.perf_counter()
            result = await client.call_tool("check_numbers", {"report": report, "sources_dir": str(ROOT / "tests/fixtures/corpus")})
            json.loads(result.content[0].text)
            return ready, time.perf_counter() - t

    return anyio.run(main)


def main() -> None:
    py = sys.executable
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} cores, load average {load:.1f} at start (figures scale with load)")
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        print(f"yanbao --help: median of 10: {wall([py, '-m', 'pipeline.cli.app', '--help'], 10, ROOT):.2f} s (target < 0.5 s)")
        bare = wall([py, "-c", "import pipeline.llm.langchain_engine"], 5, ROOT)
        loaded = wall([py, "-c", "import pipeline.llm.langchain_engine as m; m.require_langchain()"], 5, ROOT)
        print(f"LangChain import when --llm langchain is chosen: {loaded - bare:.2f} s (median of 5, once per run)")
        for tools in (True, False):
            route = "tool calling" if tools else "schema in the prompt"
            slot_overhead(tools, 5)  # warm-up: first binding, imports
            print(f"per-slot overhead, {route}: {slot_overhead(tools, 100):.1f} ms (median of 100, fake model)")
        ready, check = mcp_round_trip(cwd)
        print(f"yanbao mcp: spawn to tools/list {ready:.2f} s; one check_numbers call (4 sources) {check:.2f} s")


if __name__ == "__main__":
    main()
