"""One small research report on a real instruct model, and what it is worth to a reader.

Runs `yanbao run --kind research --breadth 1 --max-loops 1 --search local` (by default on a temporary
folder holding the two public articles of ../shared/seeds/, which are never copied into the project)
against an Ollama-API host or an OpenAI-compatible server, through a small recording proxy, and prints:

* requests, prompt tokens sent and prompt tokens the server evaluated (the proxy reads them from each
  reply, so the figures do not depend on the yanbao version under test: Ollama's `prompt_eval_count`
  plus `prompt_cached_count` where the server reports the reused prefix, as llama.cpp-based servers do;
  OpenAI `usage.prompt_tokens` and llama.cpp `timings.prompt_n`), replies cut at the token limit;
* wall time; degraded slots and why (run.json); numbers in the report and their check (.check.json);
* repeated points (near-duplicate bullets, by `pipeline.kinds.slotcheck.near_duplicate` of this checkout),
  whitespace runs and broken citation marks left in the report;
* a few sentences of the model's own output.

`--repo` runs another checkout's code (e.g. a worktree of main, for a before/after comparison); the
analysis of its report uses this checkout's code. Examples::

    /work/shared/tools/llm-cpu/start.sh 11500
    .venv/bin/python bench/instruct_run.py --host http://127.0.0.1:11500 --model qwen2.5-coder-1.5b
    .venv/bin/python bench/instruct_run.py --llm openai --base-url http://127.0.0.1:11501/v1 --model ~/.cache/llm-cpu/model.gguf

Everything after `--` is passed to `yanbao run` as it is (e.g. `-- --concurrency 1`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEEDS = ROOT.parent / "shared" / "seeds"
SEED_FILES = ("source-gpu-scramble.md", "source-h200-exports.md")
TOPIC = "英伟达H200对华出口与国内算力采购"


# ---------------------------------------------------------------------------------------------
# The recording proxy
# ---------------------------------------------------------------------------------------------


@dataclass
class Exchange:
    """One LLM request as the server answered it."""

    path: str
    seconds: float
    status: int
    sent: int = 0  # prompt tokens of the request
    evaluated: int = 0  # prompt tokens the server computed (the rest came from its prefix cache)
    completion: int = 0
    cut: bool = False  # the reply ended at the token limit


@dataclass
class Log:
    """The exchanges of a run; with `path`, also appended there as they happen (one JSON line each), so
    a run stopped half-way still leaves its figures."""

    exchanges: list[Exchange] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    path: Path | None = None

    def add(self, e: Exchange) -> None:
        with self.lock:
            self.exchanges.append(e)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(e.__dict__) + "\n")


def _json_objects(body: bytes) -> list[dict]:
    """Every JSON object of a reply: one body, NDJSON lines, or SSE `data:` lines."""
    text = body.decode("utf-8", "replace")
    out: list[dict] = []
    for line in text.splitlines() if "\n" in text.strip() else [text]:
        line = line.strip()
        if line.startswith("data:"):
            line = line[5:].strip()
        if not line or line == "[DONE]":
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def read_counts(path: str, status: int, body: bytes, seconds: float) -> Exchange:
    """The token counts of one reply (Ollama `/api/chat` or OpenAI `/chat/completions`)."""
    e = Exchange(path=path, seconds=seconds, status=status)
    for obj in _json_objects(body):
        if "prompt_eval_count" in obj or obj.get("done"):
            e.evaluated = int(obj.get("prompt_eval_count") or 0)
            e.sent = e.evaluated + int(obj.get("prompt_cached_count") or 0)
            e.completion = int(obj.get("eval_count") or 0)
            e.cut = obj.get("done_reason") == "length"
        usage = obj.get("usage") or {}
        if usage:
            e.sent = int(usage.get("prompt_tokens") or 0)
            e.completion = int(usage.get("completion_tokens") or 0)
            cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
            e.evaluated = e.sent - cached
        timings = obj.get("timings") or {}
        if "prompt_n" in timings:
            e.evaluated = int(timings["prompt_n"])
            e.sent = max(e.sent, e.evaluated + int(timings.get("cache_n") or 0))
        for choice in obj.get("choices") or []:
            if choice.get("finish_reason") == "length":
                e.cut = True
    return e


def start_proxy(upstream: str, log: Log) -> ThreadingHTTPServer:
    """A pass-through HTTP proxy on 127.0.0.1 that records the token counts of every LLM reply."""
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _relay(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=7200)
            started = time.monotonic()
            try:
                conn.request(method, self.path, body=body, headers=headers)
                resp = conn.getresponse()
            except OSError as exc:
                self.send_error(502, f"upstream: {exc}")
                return
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                    self.send_header(k, v)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            seen = bytearray()
            while True:
                piece = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not piece:
                    break
                seen += piece
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            conn.close()
            if self.path.endswith(("/api/chat", "/api/generate", "/chat/completions")):
                log.add(read_counts(self.path, resp.status, bytes(seen), time.monotonic() - started))

        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            self._relay("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._relay("POST")

        def do_HEAD(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------------------------------------
# Reading the report
# ---------------------------------------------------------------------------------------------

_BULLET = re.compile(r"^- (.+)$", re.M)
_SENT = re.compile(r"[^。！？]+[。！？]?")


def body_of(report: str) -> str:
    """The report above its 数据核验 appendix."""
    cut = report.find("\n## 数据核验")
    return report if cut < 0 else report[:cut]


def section(report: str, heading: str) -> str:
    """The text under the first line that starts with `heading`, up to the next heading of its level
    or higher."""
    start = report.find("\n" + heading)
    if start < 0:
        return ""
    level = len(heading) - len(heading.lstrip("#"))
    start = report.find("\n", start + 1)
    nxt = re.search(rf"^#{{1,{level}}} ", report[start + 1 :], re.M) if level else None
    return report[start + 1 : start + 1 + nxt.start()] if nxt else report[start + 1 :]


class Sources:
    """The texts the run read, to tell the model's own sentences from sentences it copied: the seed
    articles may not be quoted into the project, and a copied sentence is no writing of the model's."""

    def __init__(self, folder: Path | None) -> None:
        from pipeline.kinds.slotcheck import bigrams

        texts = [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))] if folder else []
        self.grams = bigrams("\n".join(texts)) if texts else frozenset()

    def copied(self, sentence: str) -> bool:
        from pipeline.kinds.slotcheck import bigrams

        grams = bigrams(sentence)
        return len(grams) >= 8 and len(grams & self.grams) / len(grams) >= 0.8

    def own(self, text: str) -> str:
        """`text` with every sentence copied from the sources replaced by 〔照抄资料〕."""
        parts = [m.group(0) for m in _SENT.finditer(text)]
        return "".join("〔照抄资料〕" if self.copied(p) else p for p in parts) if parts else text


def located_bullets(body: str) -> list[tuple[str, str]]:
    """(the heading above it, the bullet) for every bullet of the report body."""
    out, heading = [], ""
    for line in body.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("# ").strip()
        elif line.startswith("- ") and line[2:].strip():
            out.append((heading, line[2:].strip()))
    return out


def repeated_points(body: str) -> list[tuple[str, str, str, str]]:
    """Bullets that say what an earlier bullet said (this checkout's near-duplicate test): (where the
    earlier one is, where the repeat is, the earlier text, the repeat's text)."""
    from pipeline.kinds.slotcheck import near_duplicate

    points = [(h, p) for h, p in located_bullets(body) if "资料不足" not in p]
    pairs = []
    for i, (where, text) in enumerate(points):
        for other, first in points[:i]:
            if near_duplicate(text, first):
                pairs.append((other, where, first, text))
                break
    return pairs


def first_sentences(text: str, n: int = 2, width: int = 160) -> str:
    text = " ".join(text.split())
    out = "".join(m.group(0) for m in list(_SENT.finditer(text))[:n]).strip()
    return out if len(out) <= width else out[: width - 1] + "…"


def analyse(report_path: Path, manifest_path: Path, log: Log, wall: float, code: int,
            sources: Sources | None = None) -> dict:
    report = report_path.read_text(encoding="utf-8") if report_path.is_file() else ""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    check_path = report_path.with_name(report_path.stem + ".check.json")
    checks = json.loads(check_path.read_text(encoding="utf-8")) if check_path.is_file() else {"claims": []}
    body = body_of(report)
    sources = sources or Sources(None)
    chats = [e for e in log.exchanges if e.status == 200]
    sent = sum(e.sent for e in chats)
    evaluated = sum(e.evaluated for e in chats)
    unverified = [f"{c['text']}（{ {'contradicted': '存在出入', 'unsupported': '未找到来源'}[c['status']] }）"
                  for c in checks.get("claims", []) if c["status"] != "verified"]
    llm = manifest.get("llm", {})
    return {
        "exit_code": code,
        "wall_s": round(wall, 1),
        "requests": len(log.exchanges),
        "requests_failed": len(log.exchanges) - len(chats),
        "prompt_tokens_sent": sent,
        "prompt_tokens_evaluated": evaluated,
        "evaluated_share": round(evaluated / sent, 3) if sent else None,
        "completion_tokens": sum(e.completion for e in chats),
        "replies_cut_at_limit": sum(1 for e in chats if e.cut),
        "run_store": {k: llm.get(k) for k in ("calls", "tasks", "prompt_tokens", "prompt_eval_tokens",
                                               "completion_tokens") if k in llm},
        "degraded": manifest.get("degraded", []),
        "checks": checks.get("summary", manifest.get("checks", {})),
        "numbers": len(checks.get("claims", [])),
        "not_verified": unverified,
        "bullets": len(located_bullets(body)),
        "bullets_copied_from_sources": sum(1 for _, b in located_bullets(body) if sources.copied(b)),
        "repeated_points": [(a, b, sources.own(x), sources.own(y)) for a, b, x, y in repeated_points(body)],
        "whitespace_runs": len(re.findall(r"[ \t\u3000]{3,}", body)),
        "broken_citations": re.findall(r"\[\d{1,4}(?![\d\]])", body),
        "samples": {
            name: sources.own(first_sentences(text, 3, 240)) for name, text in (
                ("research summary", section(report, "## Summary")),
                ("trends", " ".join(_BULLET.findall(section(report, "#### 2. 趋势分析")))),
                ("outlook", " ".join(_BULLET.findall(section(report, "#### 4. 未来展望")))),
                ("executive summary", section(report, "### 1. 执行摘要")),
            )
        },
        "report": str(report_path),
    }


def show(result: dict, label: str) -> None:
    r = result
    print(f"## {label}")
    print(f"exit code {r['exit_code']}, wall {r['wall_s']} s")
    share = f"{100 * r['evaluated_share']:.0f} %" if r["evaluated_share"] is not None else "n/a"
    print(f"requests {r['requests']} ({r['requests_failed']} failed); prompt tokens sent {r['prompt_tokens_sent']}, "
          f"evaluated {r['prompt_tokens_evaluated']} ({share}); completion tokens {r['completion_tokens']}; "
          f"replies cut at the token limit {r['replies_cut_at_limit']}")
    if r["run_store"]:
        print(f"run store (run.json llm): {r['run_store']}")
    print(f"numbers in the report {r['numbers']}: {r['checks']}")
    for line in r["not_verified"][:12]:
        print(f"  not verified: {line}")
    print(f"degraded slots {len(r['degraded'])}:")
    for d in r["degraded"]:
        print(f"  {d['step']}: {d['reason'][:200]}")
    print(f"bullets {r['bullets']}, of them copied from the sources (≥ 80 % of their character pairs) "
          f"{r['bullets_copied_from_sources']}")
    print(f"repeated points {len(r['repeated_points'])} (bullets that say what an earlier one said):")
    for a, b, x, y in r["repeated_points"][:8]:
        print(f"  [{a}] 「{x[:50]}」 ~ [{b}] 「{y[:50]}」")
    print(f"whitespace runs {r['whitespace_runs']}, broken citation marks {r['broken_citations']}")
    for name, text in r["samples"].items():
        print(f"  {name}: {text or '—'}")
    print(f"report: {r['report']}")


def _seed_copy(work: Path) -> Path:
    """The two seed articles in a folder of their own (they are read there, never copied into the project)."""
    sources = work / "sources"
    sources.mkdir(exist_ok=True)
    for name in SEED_FILES:
        shutil.copy(SEEDS / name, sources / name)
    return sources


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--llm", default="ollama", help="yanbao engine: ollama (Ollama API) or openai (OpenAI API)")
    p.add_argument("--host", default="http://127.0.0.1:11500", help="Ollama-API host (--llm ollama)")
    p.add_argument("--base-url", default="http://127.0.0.1:11501/v1", help="OpenAI-compatible base URL (--llm openai)")
    p.add_argument("--model", default="qwen2.5-coder-1.5b")
    p.add_argument("--topic", default=TOPIC)
    p.add_argument("--sources", type=Path, help="sources folder (default: a temporary copy of the two seed articles)")
    p.add_argument("--repo", type=Path, default=ROOT, help="the yanbao checkout whose code runs (default: this one)")
    p.add_argument("--python", default=sys.executable, help="interpreter with yanbao's dependencies")
    p.add_argument("--out", type=Path, help="output folder (default: a new temporary folder)")
    p.add_argument("--timeout", type=float, default=6 * 3600, help="seconds for the whole run")
    p.add_argument("--label", default="", help="heading of the printed figures")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--log", type=Path, help="append each LLM exchange here as it happens (JSON lines)")
    p.add_argument("--analyse", type=Path, metavar="REPORT.md",
                   help="run nothing: print the figures of this report, its run.json and the exchanges of --log "
                        "(all of them: a run resumed after an interruption counts both attempts)")
    p.add_argument("--wall", type=float, default=0.0, help="with --analyse: the wall time to print (seconds)")
    args = p.parse_args(argv)
    if args.analyse is not None:
        log = Log()
        if args.log is not None and args.log.is_file():
            for line in args.log.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    log.exchanges.append(Exchange(**json.loads(line)))
        result = analyse(args.analyse, args.analyse.with_name(args.analyse.stem + ".run.json"), log, args.wall, 0,
                         Sources(args.sources or _seed_copy(Path(tempfile.mkdtemp(prefix="yanbao-instruct-")))))
        show(result, args.label or str(args.analyse))
        if args.json:
            args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return 0

    work = Path(tempfile.mkdtemp(prefix="yanbao-instruct-"))
    sources = args.sources or _seed_copy(work)
    out = args.out or work / "out"
    log = Log(path=args.log)
    upstream = args.host if args.llm == "ollama" else args.base_url
    proxy = start_proxy(upstream, log)
    proxied = f"http://127.0.0.1:{proxy.server_address[1]}"
    engine = ["--ollama-host", proxied] if args.llm == "ollama" else [
        "--base-url", proxied + (urlsplit(args.base_url).path or "")]
    cmd = [args.python, "-m", "pipeline.cli.app", "run", args.topic, "--kind", "research", "--llm", args.llm,
           "--model", args.model, *engine, "--search", "local", "--sources", str(sources), "--out", str(out),
           "--breadth", "1", "--max-loops", "1", "--quiet", *passthrough]
    env = {**os.environ, "PYTHONPATH": str(args.repo), "YANBAO_TIMEOUT_S": os.environ.get("YANBAO_TIMEOUT_S", "7200")}
    env.setdefault("OPENAI_API_KEY", "not-needed-for-a-local-server")
    print(f"running ({args.repo}): {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, _ = proc.communicate()
        code, stderr = -1, f"timed out after {args.timeout:g} s"
    except BaseException:
        proc.kill()  # stopped (Ctrl-C, kill): do not leave the run behind
        raise
    wall = time.monotonic() - started
    proxy.shutdown()
    if stderr.strip():
        print(stderr.strip()[-2000:], file=sys.stderr)
    lines = [ln for ln in (stdout if isinstance(stdout, str) else stdout.decode()).splitlines() if ln.strip()]
    report = Path(lines[-1]) if lines and lines[-1].endswith(".md") else Path("/nonexistent.md")
    manifest = report.with_name(report.stem + ".run.json")
    result = analyse(report, manifest, log, wall, code, Sources(sources))
    show(result, args.label or f"{args.llm} · {args.model} · {args.repo}")
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0 if code in (0, 1, 3) else 1


if __name__ == "__main__":
    sys.exit(main())
