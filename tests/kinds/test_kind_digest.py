"""`--kind digest` and `yanbao digest` end to end: the CLI as a subprocess against the fake Ollama server."""

from __future__ import annotations

import json
import re
from datetime import date

from kindkit import assert_in_order, assert_one_line_error

from pipeline.kinds.digest.rules import CATEGORY_EMOJI

METRICS_INSTRUCTION = "挑出3到6个最关键的数据指标"
TRUE_METRIC = {"name": "英伟达计提出口管制相关费用", "value": "45亿美元", "ref": 1}
FALSE_METRICS = [
    {"name": "英伟达计提出口管制相关费用", "value": "75亿美元", "ref": 1},  # contradicted by the corpus
    {"name": "微软第四季度资本开支", "value": "999亿美元", "ref": 1},  # contradicted too
    {"name": "国产加速器厂商营收增速", "value": "37%", "ref": 1},  # nobody can say: unsupported
]

LAYOUT = [
    "# AI产品资讯汇总",
    "\n## ",
    "\n**发布日期：** 2025-05-20",
    "\n**来源：** [测试资讯](https://example.com/export-controls)",
    "\n**分类：** ",
    "\n**可信度评分：** ",
    "\n---\n",
    "\n## 执行摘要：",
    "\n**战略问题**：",
    "\n**关键数据指标**：",
    "\n| 指标 | 数值 | 来源 |",
    "\n**战略判断**：",
    "\n1. ",
    "\n2. ",
    "\n---\n",
    "\n## 第一部分：技术深度解析（40%）",
    "\n### 1.1 ",
    "\n## 第二部分：商业逻辑与经济模型（30%）",
    "\n### 2.1 ",
    "\n## 第三部分：市场竞争格局与战略定位（15%）",
    "\n## 第四部分：风险治理与合规框架（10%）",
    "\n## 第五部分：行动建议与路线图（5%）",
    "\n## 结论：",
    "\n## 参考文献与数据来源",
    "\n1. **测试资讯**：出口管制影响算力供给（2025-05-20）：https://example.com/export-controls\n",
    "\n**更新日志**：",
    f"\n- {date.today().isoformat()}：首次生成（run `",
    "\n## 数据核验",
]


def ollama_args(fake, corpus, *extra: str) -> list[str]:
    return ["--llm", "ollama", "--ollama-host", fake.url, "--search", "local", "--sources", str(corpus),
            "--out", "out", "--quiet", *extra]


def metrics_responder(request):
    user = request["messages"][-1]["content"]
    if METRICS_INSTRUCTION in user:
        return json.dumps({"metrics": [TRUE_METRIC, *FALSE_METRICS]}, ensure_ascii=False)
    if "写出全文结论" in user:  # a model that writes markdown cannot add a heading to the report
        return json.dumps({"text": "管制仍是主线\n## 伪造的标题"}, ensure_ascii=False)
    if any("为这条资讯写一个标题" in m["content"] for m in request["messages"]):  # echoes the JSON example, even when
        # asked again with the reason: not an answer
        return json.dumps({"headline": "出口管制新规落地", "category": "AI产品", "thesis": "核心论断"}, ensure_ascii=False)
    return None


def test_digest_layout_and_verified_metrics_only(fake_ollama, corpus, yanbao, tmp_path):
    fake_ollama.responder = metrics_responder
    res = yanbao("run", "出口管制", "--kind", "digest", *ollama_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    assert res.report.parent == tmp_path / "out"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}-digest-出口管制\.md", res.report.name)
    text = res.text
    assert_in_order(text, LAYOUT)

    headline = re.search(r"^## (\S+) (.+)$", text, re.M)
    assert headline and headline.group(1) in CATEGORY_EMOJI.values()
    assert re.search(r"^\*\*可信度评分：\*\* [★☆]{5}$", text, re.M)
    assert "⟪" not in text  # the placeholder was replaced
    assert "\n## 结论：管制仍是主线 伪造的标题\n" in text and "\n## 伪造的标题" not in text

    table = text.split("**关键数据指标**：", 1)[1].split("**战略判断**", 1)[0]
    rows = [r for r in table.splitlines() if r.startswith("| ") and "指标 | 数值" not in r]
    assert rows == ["| 英伟达计提出口管制相关费用 | 45亿美元 | [1] |"]
    for false in FALSE_METRICS:
        assert false["value"] not in text

    item = res.manifest["items"][0]
    assert item["status"] == "done" and item["metrics"] == {"candidates": 4, "verified": 1}
    cred = item["credibility"]
    assert 1 <= cred["stars"] <= 5 and text.count("★") == cred["stars"]
    assert res.manifest["credibility"] == {"stars": cred["stars"], "items": [cred["stars"]]}
    # The echoed frame was asked for again with the reason, then refused: code falls back to the topic, and says why.
    frames = [r for r in fake_ollama.requests if "为这条资讯写一个标题" in r["messages"][1]["content"]]
    assert len(frames) == 2 and "核心论断" in frames[1]["messages"][-1]["content"]
    assert "照抄了提示" in frames[1]["messages"][-1]["content"]
    assert headline.group(2) == "出口管制" and "\n## 执行摘要：出口管制\n" in text
    assert any(d["step"] == "digest[1].frame" and "照抄了提示" in d["reason"] for d in res.manifest["degraded"])
    assert res.manifest["title"] == headline.group(2)
    assert res.manifest["kind"] == "digest"


def test_digest_batch_topic_document_and_urls(fake_ollama, corpus, yanbao, news_site, tmp_path):
    """Four items: a topic, a local document, a page that is read, and an address nothing answers at.
    The last one is recorded (report, run.json, fetch_errors); the others are written; exit 0."""
    dead = "http://127.0.0.1:9/unreachable"
    page = f"{news_site}/news/export-controls.html"
    res = yanbao("digest", "推理需求", str(corpus / "power.md"), page, dead,
                 *ollama_args(fake_ollama, corpus, "--allow-private"))
    assert res.code == 0, res.stderr
    assert res.report.name == f"{date.today().isoformat()}-digest.md"
    assert "1 of 4 items could not be written" in res.stderr and dead in res.stderr
    text = res.text
    assert text.count("\n**可信度评分：** ") == 3
    assert text.count("\n## 第五部分：行动建议与路线图（5%）") == 3
    assert text.count("# AI产品资讯汇总") == 1 and text.count("\n## 数据核验") == 1
    assert "**未能生成的条目**" in text and dead in text
    assert text.count("\n| （暂无经核实的数据） | | |\n") == 3  # the fake model's figures are not in the corpus
    # The three sections, in the order given, each headed by its own main source.
    assert_in_order(text, [
        "**来源：** [测试资讯](https://example.com/inference-shift)",
        "**发布日期：** 2025-04-10",
        "**来源：** [测试资讯](https://example.com/dc-power)",
        f"]({page})",
    ])
    m = res.manifest
    assert [i["status"] for i in m["items"]] == ["done", "done", "done", "failed"]
    assert [i["form"] for i in m["items"]] == ["topic", "document", "url", "url"]
    assert "no material" in m["items"][3]["error"]
    assert any(e["url"] == dead for e in m["search"]["fetch_errors"])
    assert any(d["step"] == "digest[4].fetch" for d in m["degraded"])
    assert page in m["items"][2]["sources"][0]


def test_digest_fails_with_one_line_when_no_item_has_material(fake_ollama, corpus, yanbao, tmp_path):
    res = yanbao("digest", "http://127.0.0.1:9/nothing-here", str(tmp_path / "missing.md"),
                 *ollama_args(fake_ollama, corpus))
    assert_one_line_error(res, 1, "no item could be written", "missing.md", "nothing-here")
    assert not list((tmp_path / "out").glob("*.md"))


def test_run_digest_takes_one_topic(yanbao, corpus, tmp_path):
    res = yanbao("run", "出口管制", "推理", "--kind", "digest", "--llm", "extractive", "--search", "local",
                 "--sources", str(corpus), "--out", "out")
    assert_one_line_error(res, 2, "--kind digest takes one topic", "yanbao digest")
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.md"))
