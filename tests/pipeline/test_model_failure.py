"""A failing model is a failed run, not "nothing relevant": exit 1 with one line naming the model, the
count and why, the degraded report kept for inspection; exit 3 stays for retrieval that found nothing.
Queries that only echo the prompt's own labels are rejected like repeats."""

from __future__ import annotations

import json
import sqlite3

import pytest
from clikit import assert_one_line_error
from fake_ollama import Reply, instance_for

from pipeline.kinds.prompting import echoes, prompt_labels
from pipeline.kinds.research.slots import Plan, Query, Reflection
from pipeline.llm.base import Options, Task
from pipeline.llm.ollama import OllamaLLM
from pipeline.llm.validate import failure_kind
from pipeline.models import TaskContext

TOPIC = "人工智能发展趋势"


def args(fake, corpus, topic: str = TOPIC, *extra: str) -> list[str]:
    return [
        "run", topic, "--llm", "ollama", "--ollama-host", fake.url, "--search", "local", "--sources", str(corpus),
        "--out", "out", "--breadth", "2", "--max-loops", "2", "--quiet", *extra,
    ]


def english(value):
    """The same JSON shape with every string in English: valid for the schema, not Chinese."""
    if isinstance(value, str):
        return "compute demand keeps growing"[: max(4, min(len(value), 28))]
    if isinstance(value, dict):
        return {k: english(v) for k, v in value.items()}
    if isinstance(value, list):
        return [english(v) for v in value]
    return value


def english_responder(request):
    return json.dumps(english(instance_for(request["format"], 1)))


def test_every_answer_not_chinese_fails_the_run_and_keeps_the_report(fake_ollama, corpus, yanbao, tmp_path):
    fake_ollama.responder = english_responder
    res = yanbao(*args(fake_ollama, corpus))
    m = res.manifest
    n = m["llm"]["tasks"]
    assert n > 0
    assert_one_line_error(res, 1, f"qwen2.5:7b: {n} of {n} answers not Chinese", "kept for inspection", str(res.report))
    assert res.report.is_file()  # stdout still lists the files, the report last
    assert m["failed"] == {
        "reason": f"qwen2.5:7b: {n} of {n} answers not Chinese", "model": "qwen2.5:7b", "tasks": n,
        "failed_tasks": n, "causes": {"not Chinese": n}, "sources_found": m["failed"]["sources_found"],
    }
    assert m["failed"]["sources_found"] > 0  # retrieval found material: this is not "nothing relevant"
    text = res.report.read_text(encoding="utf-8")
    assert "**未找到相关资料**" not in text and "没有与“" not in text
    assert "本次运行失败，报告仅供排查" in text
    assert not any("no material found" in d["reason"] or "nothing relevant" in d["reason"] for d in m["degraded"])
    with sqlite3.connect(tmp_path / "out" / "yanbao.db") as conn:
        status, error = conn.execute("SELECT status, error FROM runs").fetchone()
    assert status == "failed" and "not Chinese" in error


def test_summaries_failing_with_material_found_is_a_failed_run_not_exit_3(fake_ollama, corpus, yanbao):
    def responder(request):
        if "summary" in request["format"].get("properties", {}):  # the research summaries
            return ""  # every summary empty: the sources found are never written up
        return None

    fake_ollama.responder = responder
    res = yanbao(*args(fake_ollama, corpus))
    m = res.manifest
    failed = m["failed"]
    assert 0 < failed["failed_tasks"] < failed["tasks"] and failed["causes"] == {"empty": failed["failed_tasks"]}
    assert_one_line_error(res, 1, f"{failed['failed_tasks']} of {failed['tasks']} answers empty",
                          f"nothing was written from the {failed['sources_found']} sources found")
    assert "**未找到相关资料**" not in res.report.read_text(encoding="utf-8")


def test_nothing_relevant_with_a_working_model_still_exits_3(fake_ollama, corpus, yanbao):
    topic = "足球联赛转会"

    def responder(request):
        fields = request["format"].get("properties", {})
        if "subtopics" in fields:
            return json.dumps({"subtopics": [topic]}, ensure_ascii=False)
        if "query" in fields:
            return json.dumps({"query": topic}, ensure_ascii=False)
        return None

    fake_ollama.responder = responder
    res = yanbao(*args(fake_ollama, corpus, topic, "--breadth", "1", "--max-loops", "1"))
    assert res.code == 3, res.stderr
    assert "nothing relevant" in res.stderr
    assert "failed" not in res.manifest
    assert "**未找到相关资料**" in res.report.read_text(encoding="utf-8")


def test_some_slots_failing_is_exit_0_with_degraded_entries(fake_ollama, corpus, yanbao):
    def responder(request):
        if any("提炼该子主题的关键发现与洞察" in m["content"] for m in request["messages"]):  # analysis.findings
            return english_responder(request)
        return None

    fake_ollama.responder = responder
    res = yanbao(*args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    m = res.manifest
    assert "failed" not in m and m["llm"]["failures"] > 0
    assert any("回答不是中文" in d["reason"] for d in m["degraded"] if d["step"].startswith("analysis"))


def test_queries_echoing_the_prompt_labels_are_replaced_by_derived_ones(fake_ollama, corpus, yanbao):
    def responder(request):
        fields = request["format"].get("properties", {})
        if "subtopics" in fields:
            return json.dumps({"subtopics": ["子主题1", "云厂商资本开支"]}, ensure_ascii=False)
        if "query" in fields:
            return json.dumps({"query": "搜索词"}, ensure_ascii=False)
        if "follow_up_query" in fields:
            return json.dumps({"knowledge_gap": "缺少推理数据", "follow_up_query": "follow_up_query"})
        return None

    fake_ollama.responder = responder
    res = yanbao(*args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    m = res.manifest
    assert [w["subtopic"] for w in m["workers"]] == ["云厂商资本开支"]  # `子主题1` copied the prompt's example
    w = m["workers"][0]
    assert w["derived_queries"] == [1, 2]
    assert "搜索词" not in w["queries"] and "follow_up_query" not in w["queries"]
    assert all(q.startswith("云厂商资本开支") for q in w["queries"]) and len(set(w["queries"])) == 2
    notes = [n["note"] for n in m["notes"]]
    assert any("“搜索词” only echoes the prompt's labels" in n for n in notes)
    assert any("“follow_up_query” only echoes the prompt's labels" in n for n in notes)
    assert any("子主题1" in n and "dropped" in n for n in notes)


@pytest.mark.parametrize(
    ("prompt", "schema", "text", "echo"),
    [
        ("query", Query, "搜索词", True),
        ("query", Query, "查询词", True),
        ("query", Query, "query", True),
        ("query", Query, " “：” ", True),
        ("reflect", Reflection, "下一轮查询词", True),
        ("reflect", Reflection, "知识空白", True),
        ("reflect", Reflection, "follow_up_query", True),
        ("reflect", Reflection, "Knowledge Gap", True),
        ("plan", Plan, "子主题2", True),
        ("query", Query, "英伟达H20 搜索词", False),
        ("query", Query, "H20", False),
        ("query", Query, "云厂商资本开支 2025", False),
        ("reflect", Reflection, "推理芯片 出口管制", False),
    ],
)
def test_echo_is_judged_against_the_prompt_and_slot_labels(prompt, schema, text, echo):
    assert echoes(text, prompt_labels(prompt, schema), "英伟达H20对华销售") is echo


def test_restating_the_subject_is_never_an_echo():
    labels = prompt_labels("query", Query)
    assert echoes("搜索引擎", labels)  # only label characters (the prompt says 搜索引擎查询词)
    assert not echoes("搜索引擎", labels, "搜索引擎市场格局")  # ... but it is the sub-topic's own subject


def test_labels_come_from_the_templates_and_the_models():
    labels = prompt_labels("reflect", Reflection)
    assert {"摘", "要", "知", "识"} <= labels.chars  # `当前摘要：`, `<<<摘要 开始>>>`, `"知识空白"`
    assert {"knowledge", "gap", "follow", "up", "query", "json"} <= labels.words
    assert "英" not in labels.chars


@pytest.mark.parametrize(
    ("error", "words"),
    [
        ("回答不是中文 (cjk ratio 0.00)", "not Chinese"),
        ("回答为空", "empty"),
        ("不是有效的JSON: Expecting value (第0个字符); 修复后: 回答不是JSON对象 (得到 空)", "invalid JSON"),
        ("回答不是JSON对象 (得到 list)", "not a JSON object"),
        ("subtopics: Input should be a valid list", "not matching the schema"),
    ],
)
def test_failure_kinds_in_plain_words(error, words):
    assert failure_kind(error) == words


def test_the_engine_says_when_a_slot_failed_validation(fake_ollama):
    llm = OllamaLLM(fake_ollama.url, "qwen2.5:7b", Options(timeout_s=5), backoff_s=0.01)
    plan = Task(step="plan", kind="plan", schema=Plan, context=TaskContext(topic="算力"),
                messages=[{"role": "user", "content": "请把主题拆分为子主题：算力。"}])
    fake_ollama.script(Reply('{"subtopics": ["compute"]}'), Reply('{"subtopics": ["compute"]}'))
    failed = llm.complete(plan)
    assert failed.value is None and failed.invalid == "回答不是中文 (cjk ratio 0.00)"
    assert llm.complete(plan).invalid is None  # a valid answer (the fake's default) is not invalid
