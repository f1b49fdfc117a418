"""`--kind commentary` end to end (fake Ollama), and the rules for several topics / `--topics-file`."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from kindkit import assert_in_order, assert_one_line_error, body_of

OUTLINE_INSTRUCTION = "为正文列出3到5个小节标题"
CLOSING_INSTRUCTION = "写一段结语收束全文"


def ollama_args(fake, corpus, *extra: str) -> list[str]:
    return ["--kind", "commentary", "--llm", "ollama", "--ollama-host", fake.url, "--search", "local",
            "--sources", str(corpus), "--out", "out", "--quiet", *extra]


def responder(request):
    """Four section titles, the first two numbered by the model itself (code must renumber them), and a
    closing whose questions lack the question mark on one of them."""
    user = request["messages"][-1]["content"]
    if OUTLINE_INSTRUCTION in user:
        titles = ["一、算力需求从训练转向推理", "2. 供给约束仍未缓解", "政策变量与替代方案", "下一步看什么"]
        return json.dumps({"titles": titles}, ensure_ascii=False)
    if CLOSING_INSTRUCTION in user:
        return json.dumps({"closing": "算力之争远未结束，真正的分水岭在于谁能把成本降下来。",
                           "questions": ["你认为推理成本还会继续下降吗？", "国产方案多久能补上生态短板"]},
                          ensure_ascii=False)
    return None


def test_commentary_batch_layout(fake_ollama, corpus, yanbao, tmp_path):
    fake_ollama.responder = responder
    res = yanbao("run", "推理需求", "数据中心电力", *ollama_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    assert res.report.name == f"{date.today().isoformat()}-commentary-推理需求.md"
    text = res.text
    article = [
        "\n## ",  # the title
        "：",  # headline：hook, joined by code
        "\n**一、 算力需求从训练转向推理**",
        "\n**二、 供给约束仍未缓解**",
        "\n**三、 政策变量与替代方案**",
        "\n**四、 下一步看什么**",
        "\n**结语**",
        "算力之争远未结束",
        "\n**本文仅代表作者观点,欢迎讨论**",
        "\n你认为推理成本还会继续下降吗？",
        "\n国产方案多久能补上生态短板？",  # the question mark is code's
        "\n**参考资料**",
        "\n1. ",
    ]
    assert_in_order(text, [f"# 热点评论（{date.today().isoformat()}）", *article, *article, "\n## 数据核验"])
    assert text.count("\n## 数据核验") == 1
    assert body_of(text).count("**本文仅代表作者观点,欢迎讨论**") == 2
    # Two lead paragraphs between the title and the first section.
    first = body_of(text).split("\n## ", 1)[1]
    lead = first.split("\n**一、", 1)[0].split("\n", 1)[1]
    assert len([p for p in lead.split("\n\n") if p.strip()]) == 2
    # Every section has 1-3 paragraphs.
    for sec in re.split(r"\n\*\*[一二三四五]、 [^*]+\*\*\n", first.split("\n**结语**", 1)[0])[1:]:
        assert 1 <= len([p for p in sec.split("\n\n") if p.strip()]) <= 3
    m = res.manifest
    assert m["kind"] == "commentary" and m["topics"] == ["推理需求", "数据中心电力"]
    assert [a["status"] for a in m["articles"]] == ["done", "done"]
    assert all(a["sections"] == 4 for a in m["articles"])


def test_topics_file(fake_ollama, corpus, yanbao, tmp_path):
    (tmp_path / "topics.txt").write_text(
        "# 今日评论选题\n\n推理需求\n   \n数据中心电力  # 第二篇\n# 出口管制（暂缓）\n", encoding="utf-8"
    )
    res = yanbao("run", "--topics-file", "topics.txt", *ollama_args(fake_ollama, corpus))
    assert res.code == 0, res.stderr
    assert res.manifest["topics"] == ["推理需求", "数据中心电力"]
    assert "出口管制" not in res.manifest["topics"]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["run", "推理需求", "数据中心电力"], ["--kind research takes one topic, got 2", "--kind commentary"]),
        (["run", "推理需求", "电力", "--kind", "research"], ["--kind research takes one topic"]),
        (["run", "--kind", "commentary", "--topics-file", "nope.txt"], ["topics file not found: nope.txt"]),
        (["run", "--kind", "commentary", "--topics-file", "empty.txt"], ["has no topics"]),
        (["run", "--kind", "commentary", "--topics-file", "binary.txt"], ["topics file", "binary"]),
        (["run", "--kind", "research", "--topics-file", "empty.txt"], ["--topics-file is for --kind commentary"]),
        (["run", "--kind", "commentary", "好", "\x07坏"], ["control characters"]),
    ],
)
def test_topic_rules(yanbao, corpus, tmp_path, args, needles):
    (tmp_path / "empty.txt").write_text("# 只有注释\n\n", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02")
    res = yanbao(*args, "--llm", "extractive", "--search", "local", "--sources", str(corpus), "--out", "out")
    assert_one_line_error(res, 2, *needles)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").glob("*.md"))
