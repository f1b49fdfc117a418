"""A responder for the fake Ollama that behaves like a cooperative model, so benchmarks exercise the
full pipeline (three sub-topics that hit the corpus, distinct follow-up queries) rather than whatever
random text the default responder plans."""

from __future__ import annotations

import json
import re

SUBTOPICS = ["云厂商资本开支与算力投资", "推理需求与token价格", "国产加速器与出口管制"]
ASPECTS = ["最新数据", "主要企业", "风险与限制", "未来预期"]


def responder(request: dict) -> str | None:
    user = request["messages"][-1]["content"]
    if "拆分为" in user and "子主题" in user:
        n = int(re.search(r"拆分为 (\d+) 个", user).group(1)) if re.search(r"拆分为 (\d+) 个", user) else 3
        return json.dumps({"subtopics": SUBTOPICS[:n]}, ensure_ascii=False)
    sub = re.search(r"子主题：(.+)", user)
    subtopic = sub.group(1).split("（")[0].strip() if sub else "人工智能"
    if "第一轮搜索引擎查询词" in user:
        return json.dumps({"query": subtopic}, ensure_ascii=False)
    if "已经使用过的查询词" in user:
        used = len(re.findall(r"^- ", user.split("已经使用过的查询词")[1], re.M))
        follow = f"{subtopic} {ASPECTS[used % len(ASPECTS)]}"
        return json.dumps({"knowledge_gap": "缺少更多数据", "follow_up_query": follow}, ensure_ascii=False)
    return None
