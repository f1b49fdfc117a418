"""When there is nothing to write about, the report says so plainly and exits non-zero, instead of
filling sections with unrelated sentences; broken inputs around the corpus are one-line errors."""

from __future__ import annotations

import socket

import pytest


def test_topic_with_no_matching_document(yanbao, corpus, tmp_path):
    res = yanbao("run", "足球联赛转会", "--llm", "extractive", "--search", "local", "--sources", str(corpus),
                 "--out", "out", "--quiet")
    assert res.code == 3, res.stderr
    assert "nothing relevant" in res.stderr
    text = res.report.read_text(encoding="utf-8")
    assert "**未找到相关资料**" in text
    body = text.split("## 数据核验")[0]
    assert "https://" not in body  # no source is listed as used
    corpus_text = "".join(p.read_text(encoding="utf-8") for p in corpus.glob("*.md"))
    prose = [line for line in body.splitlines() if line and not line.startswith(("#", "*", ">", " ", "（", "最终"))]
    assert not any(line.rstrip("。")[-12:] in corpus_text for line in prose if len(line) > 12)
    assert res.manifest["checks"] == {"verified": 0, "contradicted": 0, "unsupported": 0}


def test_corrupt_facts_yaml_is_bad_input(yanbao, corpus, tmp_path):
    (corpus / "facts.yaml").write_text(
        "facts:\n  - entity: 甲\n    metric: 乙\n    value: \"很多\"\n    unit: 亿美元\n    source: https://e.com\n",
        encoding="utf-8",
    )
    res = yanbao("run", "云厂商资本开支", "--llm", "extractive", "--search", "local", "--sources", str(corpus),
                 "--out", "out")
    assert res.code == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "facts.yaml:4" in lines[0] and "value" in lines[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.md"))


def _network() -> bool:
    try:
        socket.create_connection(("duckduckgo.com", 443), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(_network(), reason="the network is reachable here")
def test_duckduckgo_without_network_is_one_line(yanbao, corpus, tmp_path):
    res = yanbao("run", "人工智能", "--llm", "extractive", "--search", "duckduckgo", "--out", "out", "--quiet")
    assert res.code == 1
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("yanbao: ") and "DuckDuckGo" in lines[0]
    assert not list((tmp_path / "out").glob("*.md"))


def test_auto_engine_falls_back_to_extractive_and_says_so(yanbao, corpus, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens here once the socket closes
    res = yanbao("run", "云厂商资本开支", "--llm", "auto", "--ollama-host", host, "--search", "local",
                 "--sources", str(corpus), "--out", "out", "--quiet", "--breadth", "1", "--max-loops", "1")
    assert res.code == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "extractive" in lines[0] and host in lines[0]
    m = res.manifest
    assert m["config"]["provider"] == "extractive" and m["config"]["llm_requested"] == "auto"
    assert any(d["step"] == "llm" and "extractive" in d["reason"] for d in m["degraded"])
    assert "**LLM 提供商**: extractive" in res.report.read_text(encoding="utf-8")
