"""Research worker: exactly `max_loops` rounds of query → search → summarize → reflect.

Every round must earn its keep: its query differs from the earlier ones and only sources not seen
before are summarized. When the model's follow-up query is missing, repeats an earlier one or only
echoes the prompt's own labels (`搜索词`, `查询词`, `follow_up_query`: a base model copying its
prompt), code derives one from what the summary has not covered yet, and the run records that it did.
"""

from __future__ import annotations

import re
from collections import Counter

from pipeline.kinds.citations import Evidence, cite, keep_valid, sentence_pieces
from pipeline.kinds.prompting import Journal, StageEnv, ask, echoes, prompt_labels
from pipeline.kinds.research.evidence import EVIDENCE_TOKENS, evidence_block, key_sentences
from pipeline.kinds.research.slots import Query, Reflection, RunningSummary
from pipeline.kinds.slotcheck import near_duplicate
from pipeline.llm.base import capabilities
from pipeline.models import Doc, SearchResult, TaskContext, WorkerResult
from pipeline.search.base import SearchError
from pipeline.search.passages import prewarm
from pipeline.text import tokens

GENERIC_ASPECTS = ("最新数据", "市场规模", "主要企业", "政策监管", "风险挑战", "未来展望", "成本与价格")


def normalize_query(q: str) -> str:
    return re.sub(r"[\s\W_]+", "", q).lower()


def clean_query(q: str | None) -> str:
    return re.sub(r"\s+", " ", (q or "").strip().strip("\"'“”「」"))[:80]


def derive_query(subtopic: str, summary: str, sources: list[SearchResult], used: list[str]) -> str:
    """A follow-up made by code: the sub-topic plus frequent source words the summary lacks."""
    covered = set(tokens(summary)) | {t for q in used for t in tokens(q)}
    counts = Counter(t for s in sources for t in tokens(s.title + " " + s.text[:2000]) if len(t) > 1)
    gaps = [t for t, _ in counts.most_common(60) if t not in covered]
    seen = {normalize_query(q) for q in used}
    for k in range(1, 4):
        for start in range(0, max(1, len(gaps))):
            words = gaps[start : start + k]
            candidate = clean_query(f"{subtopic} {' '.join(words)}")
            if words and normalize_query(candidate) not in seen:
                return candidate
    for aspect in GENERIC_ASPECTS:
        candidate = clean_query(f"{subtopic} {aspect}")
        if normalize_query(candidate) not in seen:
            return candidate
    return clean_query(f"{subtopic} 补充资料 {len(used) + 1}")


def read_pages(env: StageEnv, step: str, results: list[SearchResult]) -> None:
    """Replace snippets with page text for the top results (web results only; local ones are whole).
    A page that cannot be read leaves its snippet; the run store has its error (run.json `fetch_errors`)."""
    if env.fetcher is None or env.fetch_pages <= 0:
        return
    targets = [r for r in results if not r.content and r.url.startswith(("http://", "https://"))][: env.fetch_pages]
    if not targets:
        return
    pages = env.fetcher.fetch_many([r.url for r in targets], step=f"{step}.fetch")
    for r, page in zip(targets, pages, strict=True):
        if page.ok:
            r.content = page.text
            r.publisher = r.publisher or (page.publisher or "")
            r.date = r.date or (page.date or "")


_LEAD = re.compile(r"([^。！？!?：:\n]{1,60})[：:]\s*")
_LEAD_FILLER = re.compile(r"[的之如下以及关于是为对与和]")


def without_label(text: str, *subject: str) -> str:
    """`text` without a lead that only labels it ("英伟达H200对华出口的研究摘要如下：" writes the
    prompt's label back): a lead before the first colon that, without the topic, the sub-topic and
    function characters, is made of the summarize prompt's label words only."""
    m = _LEAD.match(text)
    if m is None or m.end() >= len(text):
        return text
    lead = m.group(1)
    for s in sorted(subject, key=len, reverse=True):
        lead = lead.replace(s, "") if s else lead
    lead = _LEAD_FILLER.sub("", lead)
    if lead and echoes(lead, prompt_labels("summarize", RunningSummary)):
        return text[m.end():]
    return text


def extend_summary(journal: Journal, step: str, summary: str, answer: str, refs: dict[str, int],
                   evidence: list[Evidence], subject: tuple[str, ...] = ()) -> str:
    """The running summary with this round's paragraph added. The model writes only the new paragraph
    (rewriting the whole summary each round cost output tokens and lost earlier facts); code keeps its
    valid citations, cites what it left uncited (`citations.cite`) and drops sentences that say again
    what the summary already says."""
    text, dropped = keep_valid(without_label(answer.strip(), *subject), set(refs.values()))
    if dropped:
        journal.note(step, f"{dropped} citation(s) to unknown sources removed")
    text, added, replaced = cite(text, evidence)
    if added:
        journal.note(step, f"{added} uncited sentence(s) given the number of the source they restate")
    if replaced:
        journal.note(step, f"{replaced} sentence(s) cited the wrong source for their figures: citation corrected")
    earlier = [p for p in sentence_pieces(summary) if p.strip()]
    pieces = sentence_pieces(text)
    fresh: list[str] = []
    for p in pieces:
        if p.strip() and any(near_duplicate(p, q) for q in earlier + fresh):
            continue
        fresh.append(p)
    if len(fresh) < len(pieces):
        journal.note(step, "sentences said twice, or already in the earlier summary, left out")
    paragraph = "".join(fresh).strip()
    if not summary.strip():
        return paragraph
    return f"{summary.rstrip()}\n\n{paragraph}" if paragraph else summary


def run_worker(env: StageEnv, topic: str, index: int, subtopic: str, max_loops: int) -> WorkerResult:
    w = WorkerResult(index=index, subtopic=subtopic)
    refs: dict[str, int] = {}  # source id -> the worker's citation number
    follow_up = ""
    for loop in range(1, max_loops + 1):
        step = f"research[{index}].loop{loop}"
        ctx = TaskContext(topic=topic, subtopic=subtopic, loop=loop, summary=w.summary, queries=list(w.queries))
        if loop == 1:
            value = ask(
                env, kind="query", step=f"{step}.query", schema=Query, context=ctx, prompt="query",
                variables={"topic": topic, "subtopic": subtopic},
            )
            query = clean_query(value.query if value else "")
            labels = prompt_labels("query", Query)
        else:
            query = clean_query(follow_up)
            labels = prompt_labels("reflect", Reflection)
        why = ""
        if not query:
            why = "no query from the model"
        elif normalize_query(query) in {normalize_query(q) for q in w.queries}:
            why = f"model repeated the query “{query}”"
        elif echoes(query, labels, topic, subtopic):
            why = f"model's query “{query}” only echoes the prompt's labels"
        if why:
            query = derive_query(subtopic, w.summary, w.sources, w.queries)
            w.derived_queries.append(loop)
            env.journal.note(step, f"{why}; derived from uncovered terms: “{query}”")
        w.queries.append(query)

        env.journal.progress(f"研究 {index} · 第 {loop}/{max_loops} 轮 · 检索：{query}")
        try:
            # Ask for enough hits that sources already read cannot crowd out new ones: a round must
            # bring new material, and the top hits of a related query are mostly the ones seen before.
            results = env.search.search(query, env.results_per_query + len(refs), step=f"{step}.search")
        except SearchError as exc:
            if exc.kind in ("network", "config"):
                raise
            env.journal.degrade(f"{step}.search", f"search failed ({exc.kind}): {exc}")
            results = []
        new = [r for r in results if r.id not in refs][: env.results_per_query]
        read_pages(env, step, new)
        for r in new:
            refs[r.id] = len(w.sources) + 1
            w.sources.append(r)
        if capabilities(env.llm).passages:  # the engine reads passages (the extractive one never cuts sources)
            prewarm([r.text for r in new])
        w.loops = loop

        if not new:
            env.journal.degrade(step, f"search “{query}” found no new sources; nothing to add to the summary")
        else:
            docs = [Doc(ref=refs[r.id], source_id=r.id, title=r.title, url=r.url, text=r.text) for r in new]
            ctx = TaskContext(
                topic=topic, subtopic=subtopic, loop=loop, summary=w.summary, queries=list(w.queries), documents=docs
            )
            evidence: list[Evidence] = []
            if capabilities(env.llm).generative:  # the extractive engine picks its own sentences
                budget = min(EVIDENCE_TOKENS, env.prompt_tokens // 2)
                evidence = key_sentences(docs, topic, subtopic, budget, avoid=w.summary)
            summarized = ask(
                env, kind="summarize", step=f"{step}.summarize", schema=RunningSummary, context=ctx,
                prompt="summarize",
                # Sources with no sentence code can pick (an English page: sentences must be Chinese
                # to be quoted) are handed over whole, as passages, rather than as an empty list.
                variables={"topic": topic, "subtopic": subtopic, "summary": w.summary, "query": query,
                           "evidence": evidence_block(evidence, docs) if evidence else "",
                           "documents_for_block": [] if evidence else docs},
                checked=True,  # the summary is report text: its answer gets the slots' content checks
            )
            if summarized is not None:
                w.summary = extend_summary(env.journal, f"{step}.summarize", w.summary, summarized.summary, refs, evidence,
                                           (topic, subtopic))

        if loop < max_loops:  # the last round's reflection would have no round to steer
            all_docs = [Doc(ref=refs[r.id], source_id=r.id, title=r.title, url=r.url, text=r.text) for r in w.sources]
            ctx = TaskContext(
                topic=topic, subtopic=subtopic, loop=loop, summary=w.summary, queries=list(w.queries),
                documents=all_docs,
            )
            reflection = ask(
                env, kind="reflect", step=f"{step}.reflect", schema=Reflection, context=ctx, prompt="reflect",
                variables={"topic": topic, "subtopic": subtopic, "summary": w.summary or "（暂无）",
                           "queries": w.queries},
            )
            follow_up = reflection.follow_up_query if reflection else ""
    return w
