"""A whole report against a pool of three Ollama hosts, one of them down, and one dying mid-run."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections import Counter
from pathlib import Path

from fake_ollama import FakeOllama
from faultkit import report_of, request_key, run_args

MODEL = "qwen2.5:7b"


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _hosts_of_calls(out: Path) -> list[str | None]:
    with sqlite3.connect(out / "yanbao.db") as conn:
        return [r[0] for r in conn.execute("SELECT host FROM calls WHERE kind='llm' ORDER BY id")]


def test_three_hosts_one_down_the_report_is_the_same_and_every_call_names_its_host(corpus, run_yanbao, tmp_path):
    with FakeOllama(models=[MODEL]) as a, FakeOllama(models=[MODEL]) as b:
        base_out = tmp_path / "one-host"
        base = run_yanbao(*run_args(a.url, corpus, base_out))
        assert base.returncode == 0, base.stderr
        baseline = report_of(base_out).read_text(encoding="utf-8")
        wanted = Counter(request_key(r) for r in a.requests)
        a.reset()

        dead = _closed_port_url()
        a_url, b_url = a.url, b.url
        out = tmp_path / "pool"
        # --max-retries 0: a host being down must cost no retry, the request just goes elsewhere.
        res = run_yanbao(*run_args(f"{a.url},{dead},{b.url}", corpus, out))
        assert res.returncode == 0, res.stderr
        assert report_of(out).read_text(encoding="utf-8") == baseline
        sent = Counter(request_key(r) for r in a.requests + b.requests)
        assert sent == wanted  # every request served exactly once, none lost
        assert a.requests and b.requests  # both live hosts carried the run
        # The dead host was found by the model check and set aside: one warning line, a manifest note.
        warnings = [x for x in res.stderr.splitlines() if x.strip()]
        assert len(warnings) == 1 and dead in warnings[0] and "using the other Ollama hosts" in warnings[0]

    report = report_of(out)
    data = json.loads(report.with_name(report.name[:-3] + ".run.json").read_text(encoding="utf-8"))
    assert data["config"]["ollama_host"] == f"{a_url},{dead},{b_url}"
    hosts = data["llm"]["hosts"]
    assert set(hosts["calls"]) == {a_url, b_url}
    assert sum(hosts["calls"].values()) == data["llm"]["tasks"] == len(hosts["served"])
    assert any(dead in n["note"] for n in data["notes"])
    stored = _hosts_of_calls(out)
    assert stored and set(stored) == {a_url, b_url}


def test_a_host_dying_mid_run_is_routed_around(corpus, run_yanbao, tmp_path):
    with FakeOllama(models=[MODEL]) as a, FakeOllama(models=[MODEL]) as b:
        base_out = tmp_path / "one-host"
        assert run_yanbao(*run_args(a.url, corpus, base_out)).returncode == 0
        baseline = report_of(base_out).read_text(encoding="utf-8")
        wanted = {request_key(r) for r in a.requests}
        a.reset()

        answered_by_b: list[str] = []

        def crash_after_three(request):
            # Called only for a request b answers; after the third, b "crashes": every later
            # request gets its connection cut.
            answered_by_b.append(request_key(request))
            if len(answered_by_b) == 3:
                b._stopping.set()
            return None

        b.responder = crash_after_three
        out = tmp_path / "pool"
        res = run_yanbao(*run_args(f"{a.url},{b.url}", corpus, out))
        assert res.returncode == 0, res.stderr
        assert report_of(out).read_text(encoding="utf-8") == baseline
        answered_by_a = [request_key(r) for r in a.requests]
        assert len(answered_by_b) == 3
        assert Counter(answered_by_a) + Counter(answered_by_b) == Counter(wanted)  # none lost, none twice
        stored = _hosts_of_calls(out)
        assert Counter(stored)[b.url] == 3 and Counter(stored)[a.url] == len(wanted) - 3
