"""End-to-end `yanbao run` against the fake Ollama HTTP server and a local fixture corpus."""

from __future__ import annotations

import json
import re

from clikit import assert_in_order
from fake_ollama import Reply, Status

from pipeline.llm.budget import estimate_tokens


def chat_requests(fake) -> list[dict]:
    return [r for r in fake.requests if "messages" in r]


REQUIRED_IN_ORDER = [
    "# 主管架构研究报告",
    "**研究主题**: 人工智能发展趋势",
    "**LLM 提供商**: ollama",
    "**模型**: qwen2.5:7b",
    "**搜索引擎**: local",
    "**最大循环次数**: 2",
    "## 研究结果",
    "### 研究结果 1",
    "## Summary",
    " ### Sources:",
    "### 研究结果 2",
    "## 分析结果",
    "### 分析结果 1",
    "#### 1. 关键发现与洞察",
    "#### 2. 趋势分析",
    "#### 3. 优缺点评估",
    "#### 4. 未来展望",
    "#### 5. 实用建议",
    "### 分析结果 2",
    "## 最终综合报告",
    "最终综合报告：人工智能发展趋势",
    "### 1. 执行摘要",
    "### 2. 详细分析",
    "### 3. 关键发现",
    "### 4. 结论和建议",
    "### 5. 参考资料",
    "结语",
    "## 数据核验",
]


def base_args(fake, corpus, *extra: str) -> list[str]:
    return [
        "run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", fake.url, "--search", "local",
        "--sources", str(corpus), "--out", "out", "--breadth", "2", "--max-loops", "2", "--quiet", *extra,
    ]


def test_report_has_every_heading_and_manifest_counts_requests(fake_ollama, corpus, yanbao, tmp_path):
    res = yanbao(*base_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    report = res.report
    assert report.parent == tmp_path / "out" and re.match(r"\d{4}-\d{2}-\d{2}-人工智能发展趋势\.md$", report.name)
    text = report.read_text(encoding="utf-8")
    assert_in_order(text, REQUIRED_IN_ORDER)

    m = res.manifest
    for key in ("topic", "kind", "config", "llm", "search", "workers", "degraded", "timings", "checks"):
        assert key in m
    for key in ("provider", "model", "ollama_host", "search_engine", "max_loops", "breadth", "num_ctx",
                "temperature", "seed"):
        assert key in m["config"]
    for key in ("calls", "prompt_tokens", "completion_tokens", "seconds", "cache_hits", "repairs", "failures"):
        assert key in m["llm"]
    chats = chat_requests(fake_ollama)
    assert m["llm"]["calls"] == len(chats) > 0
    assert m["llm"]["prompt_tokens"] > 0 and m["llm"]["completion_tokens"] > 0
    for req in chats:
        opts = req["options"]
        assert {"num_ctx", "num_predict", "temperature", "seed"} <= set(opts)
        assert isinstance(req.get("format"), dict)
    # Each worker ran exactly max_loops rounds, each with its own query; preview + 2 workers x 2 rounds.
    assert [w["loops"] for w in m["workers"]] == [2, 2]
    for w in m["workers"]:
        assert len(w["queries"]) == 2 and len(set(w["queries"])) == 2
    assert m["search"]["calls"] == 1 + 2 * 2
    # Source lists are written by code: every listed URL is one the worker found.
    for w in m["workers"]:
        for url in w["sources"]:
            assert url in text


def test_warm_cache_sends_zero_requests_and_no_cache_bypasses(fake_ollama, corpus, yanbao):
    first = yanbao(*base_args(fake_ollama, corpus))
    assert first.code == 0, first.stderr
    sent = len(chat_requests(fake_ollama))
    again = yanbao(*base_args(fake_ollama, corpus))
    assert again.code == 0, again.stderr
    assert len(chat_requests(fake_ollama)) == sent
    assert again.manifest["llm"]["calls"] == 0
    assert again.manifest["llm"]["cache_hits"] == first.manifest["llm"]["tasks"]
    assert again.report.read_text(encoding="utf-8") == first.report.read_text(encoding="utf-8")
    fresh = yanbao(*base_args(fake_ollama, corpus, "--no-cache"))
    assert fresh.code == 0
    assert len(chat_requests(fake_ollama)) == 2 * sent
    assert fresh.manifest["llm"]["cache_hits"] == 0


def test_repeated_follow_up_query_is_derived_by_code_and_recorded(fake_ollama, corpus, yanbao):
    def responder(request):
        user = request["messages"][-1]["content"]
        if "第一轮搜索引擎查询词" in user:
            return json.dumps({"query": "云厂商资本开支"}, ensure_ascii=False)
        if "已经使用过的查询词" in user:
            return json.dumps({"knowledge_gap": "缺少推理数据", "follow_up_query": "云厂商 资本开支"}, ensure_ascii=False)
        return None

    fake_ollama.responder = responder
    res = yanbao(*base_args(fake_ollama, corpus, "--breadth", "1"))
    assert res.code == 0, res.stderr
    w = res.manifest["workers"][0]
    assert w["queries"][0] == "云厂商资本开支"
    assert w["derived_queries"] == [2]
    assert w["queries"][1] != w["queries"][0]
    assert any("derived" in n["note"] for n in res.manifest["notes"])


def test_malformed_json_is_repaired_and_a_failed_slot_is_shown(fake_ollama, corpus, yanbao):
    fake_ollama.script(Reply('{"subtopics": ["云厂商资本开支", "推理需求",]'))  # the plan: repairable

    def responder(request):
        if any("提炼该子主题的关键发现与洞察" in m["content"] for m in request["messages"]):
            return "I cannot help with that."  # not JSON, not Chinese: repair and retry both fail
        return None

    fake_ollama.responder = responder
    res = yanbao(*base_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    m = res.manifest
    assert m["llm"]["repairs"] >= 1
    failed = [d for d in m["degraded"] if d["step"].endswith(".findings") and d["step"].startswith("analysis")]
    assert len(failed) == 2
    text = res.report.read_text(encoding="utf-8")
    assert text.count("（本节未能生成：") >= 2
    assert "运行提示" in text


def test_http_500_is_retried(fake_ollama, corpus, yanbao):
    fake_ollama.script(Status(500, "boom"))
    res = yanbao(*base_args(fake_ollama, corpus, "--breadth", "1", "--max-loops", "1"))
    assert res.code == 0, res.stderr
    assert res.manifest["llm"]["calls"] == len(chat_requests(fake_ollama))
    assert res.manifest["llm"]["calls"] == res.manifest["llm"]["tasks"] + 1


def test_prompts_are_budgeted_to_fit_num_ctx(fake_ollama, corpus, yanbao):
    res = yanbao(*base_args(fake_ollama, corpus, "--num-ctx", "1024", "--num-predict", "128"))
    assert res.code == 0, res.stderr
    chats = chat_requests(fake_ollama)
    assert chats
    for req in chats:
        assert req["options"]["num_ctx"] == 1024 and req["options"]["num_predict"] == 128
        used = sum(estimate_tokens(m["content"]) for m in req["messages"])
        assert used <= 1024 - 128, used
    assert any("reduced" in n["note"] or "left out" in n["note"] for n in res.manifest["notes"])


def test_config_file_env_and_flags_layer(fake_ollama, corpus, yanbao, tmp_path):
    (tmp_path / "yanbao.toml").write_text(
        f'[yanbao]\nbreadth = 1\nmax_loops = 1\nollama_host = "{fake_ollama.url}"\n', encoding="utf-8"
    )
    res = yanbao("config", "show", "--json")
    assert res.code == 0, res.stderr
    shown = json.loads(res.stdout)
    assert shown["breadth"] == {"value": 1, "from": "yanbao.toml"}
    assert shown["max_loops"]["value"] == 1
    assert shown["seed"]["from"] == "default"
    res = yanbao("run", "人工智能发展趋势", "--llm", "ollama", "--search", "local", "--sources", str(corpus),
                 "--out", "out", "--quiet", "--max-loops", "2")
    assert res.code == 0, res.stderr
    assert res.manifest["config"]["breadth"] == 1  # from the file
    assert res.manifest["config"]["max_loops"] == 2  # the flag wins
