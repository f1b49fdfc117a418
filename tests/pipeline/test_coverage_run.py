"""Coverage decides before anything is written (`pipeline/kinds/coverage.py`, `kind_research.Coverages`): a topic
the sources do not cover is refused with exit 3 and one stderr line, and the report says so instead of
padding every slot with whatever shares a word with it; a sub-topic its material does not cover says so
in one line; a partly covered topic says in its header which sub-topics have material."""

from __future__ import annotations

import json
import re

import pytest
from clikit import PROJECT_SOURCES

from pipeline.kinds.coverage import THRESHOLD

# Off-topic topics that share words with the corpus (中国, 出口, 市场, 品牌, A股 …) but not its subject.
OFF_TOPIC = ["中国新能源汽车出口", "美联储降息对A股影响", "猫粮品牌推荐", "房地产市场走势"]


def extractive(*args: str) -> list[str]:
    return ["run", *args, "--llm", "extractive", "--search", "local", "--sources", str(PROJECT_SOURCES),
            "--out", "out", "--quiet"]


@pytest.mark.parametrize("topic", OFF_TOPIC)
def test_off_topic_request_is_refused_plainly(yanbao, topic):
    res = yanbao(*extractive(topic))
    assert res.code == 3, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("yanbao: nothing relevant")
    assert "do not cover the topic" in lines[0] and f"< {THRESHOLD:.2f}" in lines[0]
    text = res.text
    assert "**未找到相关资料**" in text and "资料覆盖度" in text
    body = text.split("\n## 数据核验")[0]
    assert not re.search(r"\[\d+\]", body)  # not one source sentence, no citation
    assert "file://" not in body and len(body) < 3000  # was 40–45 000 characters about AI chips
    cov = res.manifest["coverage"]
    assert cov["threshold"] == THRESHOLD and cov["topic"]["covered"] is False
    assert cov["topic"]["score"] < THRESHOLD and cov["subtopics"][0]["covered"] is False
    assert res.manifest["checks"] == {"verified": 0, "contradicted": 0, "unsupported": 0}


def test_on_topic_request_states_its_coverage(yanbao):
    res = yanbao(*extractive("英伟达H20对华销售", "--breadth", "2", "--max-loops", "2"))
    assert res.code == 0, res.stderr
    cov = res.manifest["coverage"]
    assert cov["topic"]["covered"] and cov["topic"]["score"] >= THRESHOLD
    assert cov["topic"]["best"].startswith("英伟达H20对华销售")
    assert [s["covered"] for s in cov["subtopics"]] == [True, True]
    assert cov["verdict"] == "2 of 2 sub-topics covered"
    assert "**资料覆盖**" not in res.text and "未找到相关资料" not in res.text


def plan_responder(subtopics: list[str]):
    def respond(request):
        if any("请把这个主题拆分为" in m["content"] for m in request["messages"]):
            return json.dumps({"subtopics": subtopics}, ensure_ascii=False)
        return None

    return respond


def test_partly_covered_topic_names_the_sub_topics_with_material(fake_ollama, corpus, yanbao):
    """One sub-topic the fixture corpus covers, one it does not: the second is named in the header and
    says so in its sections; nothing of its material reaches the report."""
    fake_ollama.responder = plan_responder(["云厂商资本开支", "新能源汽车电池回收"])
    res = yanbao("run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", fake_ollama.url, "--search", "local",
                 "--sources", str(corpus), "--out", "out", "--breadth", "2", "--max-loops", "1", "--quiet")
    assert res.code == 0, res.stderr
    text = res.text
    header = text.split("\n## 研究结果")[0]
    assert "**资料覆盖**" in header and "有资料：云厂商资本开支" in header and "没有资料" in header
    assert "新能源汽车电池回收（" in header
    cov = res.manifest["coverage"]
    assert [(s["subtopic"], s["covered"]) for s in cov["subtopics"]] == [
        ("云厂商资本开支", True), ("新能源汽车电池回收", False)]
    assert cov["verdict"] == "1 of 2 sub-topics covered"
    second = text.split("### 研究结果 2")[1].split("## 分析结果")[0]
    assert "资料未覆盖此子主题" in second and "（没有用到任何资料）" in second
    analysis = text.split("### 分析结果 2")[1].split("## 最终综合报告")[0]
    assert "资料未覆盖此子主题" in analysis and "#### 1." not in analysis
    assert any(d["step"] == "research[2].coverage" for d in res.manifest["degraded"])


def test_no_covered_sub_topic_is_exit_3(fake_ollama, corpus, yanbao):
    fake_ollama.responder = plan_responder(["新能源汽车电池回收", "猫粮品牌推荐"])
    res = yanbao("run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", fake_ollama.url, "--search", "local",
                 "--sources", str(corpus), "--out", "out", "--breadth", "2", "--max-loops", "1", "--quiet")
    assert res.code == 3, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "no sub-topic is covered" in lines[0]
    assert "**未找到相关资料**" in res.text
    assert res.manifest["coverage"]["topic"]["covered"] is True  # the topic is, what was planned is not
