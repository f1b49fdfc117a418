"""The content checks through a whole `yanbao run`, the fake Ollama scripting the replies a small
instruct model gave (issue 14): a summary about the article, placeholder answers, six 趋势分析 groups of
the same bullets, identical scenarios, advice copied from the summary, a reply cut at num_predict that
leaves a wall of spaces and a broken "[199"; each is asked again once with the reason, then kept without
the bad points or left out, saying why; a rerun from the cache sends nothing and writes the same report."""

from __future__ import annotations

import json
import re

from fake_ollama import Reply

from pipeline.kinds.prompting import slot_prompts

TOPIC = "云厂商资本开支"
GOOD_SUMMARY = ("微软在2025财年第四季度的资本开支达到242亿美元[1]。谷歌把2025年全年资本开支指引上调到850亿美元[1]。"
                "云厂商资本开支的增长趋势在未来两年内难以放缓[1]。")
ABOUT_ARTICLE = "本文首先介绍了云厂商的资本开支。接着，文章分析了数据中心建设。最后，文章总结了行业面临的挑战。"
BULLETS = ["推理芯片出货量快速增长[1]", "液冷数据中心加快建设[1]", "模型调用价格持续下降[1]"]
SAME_CASE = "预计云厂商资本开支保持高速增长"


def instruction(kind: str) -> str:
    return slot_prompts()[kind]["instruction"]


def is_slot(request: dict, kind: str) -> bool:
    return instruction(kind) in request["messages"][1]["content"]


def retried(request: dict) -> bool:
    return len(request["messages"]) > 2


def bad_model(request: dict) -> str | Reply | None:
    """The replies of issue 14; the retries of some slots come back right, of others not."""
    user = request["messages"][1]["content"]
    if "写成一段连贯的中文研究摘要" in user:
        return json.dumps({"summary": GOOD_SUMMARY if retried(request) else ABOUT_ARTICLE}, ensure_ascii=False)
    if is_slot(request, "analysis.findings"):  # gemma3-270m: the JSON example, also when asked again
        return json.dumps({"groups": [{"title": "小标题", "points": ["要点", "1234567890"]}]}, ensure_ascii=False)
    if is_slot(request, "analysis.trends"):  # six dimensions, the same three bullets, also when asked again
        titles = ["需求侧", "供给侧与基础设施", "技术路径", "商业模式", "政策与治理", "资本市场"]
        return json.dumps({"groups": [{"title": t, "points": BULLETS} for t in titles]}, ensure_ascii=False)
    if is_slot(request, "analysis.outlook"):
        cases = (["预计云厂商资本开支保持20%左右增速[1]", "推理需求爆发推动投资增速超过30%", "电力短缺导致部分项目推迟"]
                 if retried(request) else [SAME_CASE] * 3)
        return json.dumps({"near_term": ["推理芯片需求将在明年继续攀升"], "long_term": ["液冷成为数据中心主流"],
                           "base_case": cases[0], "optimistic_case": cases[1], "cautious_case": cases[2]},
                          ensure_ascii=False)
    if is_slot(request, "analysis.advice"):  # first the summary's sentences again
        points = (["企业用户应分阶段部署AI应用，控制试点成本", "投资者应关注资本开支的回报周期"] if retried(request)
                  else ["微软在2025财年第四季度的资本开支达到242亿美元[1]", "谷歌把2025年全年资本开支指引上调到850亿美元[1]"])
        return json.dumps({"groups": [{"title": "企业用户", "points": points[:1]}, {"title": "投资者", "points": points[1:]}],
                           "closing": "把握算力投资窗口期。"}, ensure_ascii=False)
    if is_slot(request, "synthesis.summary") and not retried(request):  # cut at num_predict
        return Reply('{"text": "微软第四季度资本开支达到242亿美元[1]。谷歌上调全年资本开支指引[1]。行业仍面临电力约束'
                     + " " * 400 + '[199', done_reason="length")
    return None


def run_args(fake, corpus, *extra: str) -> list[str]:
    return ["run", TOPIC, "--llm", "ollama", "--ollama-host", fake.url, "--search", "local", "--sources", str(corpus),
            "--out", "out", "--breadth", "1", "--max-loops", "1", "--quiet", *extra]


def section(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_bad_answers_are_asked_again_then_kept_without_bad_points_or_left_out(fake_ollama, corpus, yanbao):
    fake_ollama.responder = bad_model
    res = yanbao(*run_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    text, m = res.text, res.manifest
    degraded = {d["step"]: d["reason"] for d in m["degraded"]}
    chats = fake_ollama.requests

    # The summary about the article was asked for again, with the reason and its own answer quoted back.
    summaries = [r for r in chats if "写成一段连贯的中文研究摘要" in r["messages"][1]["content"]]
    assert len(summaries) == 2
    retry = summaries[1]["messages"]
    assert retry[:2] == summaries[0]["messages"]  # the whole first prompt again: the server reuses it
    assert retry[2] == {"role": "assistant", "content": json.dumps({"summary": ABOUT_ARTICLE}, ensure_ascii=False)}
    assert "在描述文章" in retry[3]["content"] and "[n]" in retry[3]["content"]
    assert "谷歌把2025年全年资本开支指引上调到850亿美元" in section(text, "## Summary", "### Sources")
    assert "本文首先介绍了" not in text

    # Placeholders, also when asked again: the slot is left out and says why.
    assert "##### 小标题" not in text and "- 1234567890" not in text and "- 要点" not in text
    findings = section(text, "#### 1. 关键发现与洞察", "#### 2. 趋势分析")
    assert "（本节未能生成：回答未通过内容检查（已重试一次）" in findings and "照抄了提示" in findings

    # Six groups of the same three bullets, also when asked again: one group is kept, the repeats go.
    trends = section(text, "#### 2. 趋势分析", "#### 3. 优缺点评估")
    for bullet in BULLETS:
        assert trends.count(bullet.split("[")[0]) == 1
    assert trends.count("##### ") == 1
    assert "删去了未通过内容检查的15处" in degraded["analysis[1].trends"]

    # Identical scenarios: the retry gave three different ones, nothing is degraded.
    outlook = section(text, "#### 4. 未来展望", "#### 5. 实用建议")
    assert "推理需求爆发推动投资增速超过30%" in outlook and SAME_CASE + "\n" not in outlook
    assert "analysis[1].outlook" not in degraded

    # Advice copying the summary was asked again, naming the repeats by place.
    advice_retry = [r for r in chats if is_slot(r, "analysis.advice") and retried(r)]
    assert len(advice_retry) == 1 and "重复了研究结果 1 的摘要的内容" in advice_retry[0]["messages"][-1]["content"]
    assert "投资者应关注资本开支的回报周期" in section(text, "#### 5. 实用建议", "## 最终综合报告")

    # The cut executive summary: trimmed at its last sentence, no wall of spaces, no broken "[199".
    summary = section(text, "### 1. 执行摘要", "### 2. 详细分析").strip()
    assert summary.endswith("谷歌上调全年资本开支指引[1]。") and "电力约束" not in summary
    assert not [r for r in chats if is_slot(r, "synthesis.summary") and retried(r)]  # trimming needed no retry
    body = text.split("## 数据核验")[0]
    assert not re.search(r"[ \u3000]{3,}", body) and not re.search(r"\[\d+(?![\d\]])", body)
    assert "199" not in json.dumps(res.report.with_name(res.report.name[:-3] + ".check.json").read_text())
    assert any("trimmed at its last sentence end" in n["note"] for n in m["notes"] if n["step"] == "synthesis.summary")

    # Every retry is a task of its own in the run store; a rerun from the cache asks nothing and is identical.
    assert m["llm"]["calls"] == len(chats) == m["llm"]["tasks"]
    again = yanbao(*run_args(fake_ollama, corpus))
    assert again.code == 0, again.stderr
    assert again.manifest["llm"]["calls"] == 0 and len(fake_ollama.requests) == len(chats)
    assert again.text.split("## 数据核验")[0].replace(again.report.stem, "") == body.replace(res.report.stem, "")


def test_a_model_that_only_describes_the_article_fails_the_run_saying_so(fake_ollama, corpus, yanbao):
    fake_ollama.responder = lambda r: (json.dumps({"summary": ABOUT_ARTICLE}, ensure_ascii=False)
                                       if "写成一段连贯的中文研究摘要" in r["messages"][1]["content"] else None)
    res = yanbao(*run_args(fake_ollama, corpus))
    assert res.code == 1, res.stderr
    assert "describing the article" in res.stderr and res.stderr.startswith("yanbao: ")
    assert res.manifest["failed"]["causes"] == {"describing the article, not its facts": 2}
    assert "在描述文章" in {d["step"]: d["reason"] for d in res.manifest["degraded"]}["research[1].loop1.summarize"]


def test_a_long_failed_answer_is_asked_again_within_the_window_not_by_failing_the_run(fake_ollama, corpus, yanbao):
    """A slot prompt is budgeted to fill the window; a retry repeats it and quotes the answer back. A
    long answer does not fit: it is quoted only as far as the window has room (before, the engine
    refused the retry's prompt and the whole run failed with "cannot fit num_ctx")."""
    long_bullets = [b + "，" + "由于算力需求持续旺盛，相关厂商扩大了采购规模并提高了资本开支预算" * 6 for b in BULLETS]

    def trends_repeat(request: dict) -> str | None:
        if is_slot(request, "analysis.trends"):
            titles = ["需求侧", "供给侧与基础设施", "技术路径", "商业模式"]
            return json.dumps({"groups": [{"title": t, "points": long_bullets} for t in titles]}, ensure_ascii=False)
        return None

    fake_ollama.responder = trends_repeat
    res = yanbao(*run_args(fake_ollama, corpus, "--num-ctx", "2048", "--num-predict", "1024"))
    assert res.code == 0, res.stderr
    retries = [r for r in fake_ollama.requests if is_slot(r, "analysis.trends") and retried(r)]
    notes = [n["note"] for n in res.manifest["notes"] if n["step"] == "analysis[1].trends"]
    assert retries or "answer failed the content checks; no room in num_ctx to ask again" in notes
    for r in retries:  # the answer quoted back, clipped to the room the window has
        quoted = r["messages"][2]["content"]
        assert len(quoted) < len(json.dumps({"groups": [{"title": "x", "points": long_bullets}] * 4}, ensure_ascii=False))
    trends = section(res.text, "#### 2. 趋势分析", "#### 3. 优缺点评估")
    assert trends.count("##### ") == 1  # the repeated groups went
