"""The extractive engine through the whole stage contract: grounded, never repeating, deterministic,
honest when the topic has no material."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from extractive_corpus import docs
from extractive_driver import ANALYSES, SYNTHESES, Run, cited_sentences, drive, strings

from pipeline.kinds.coverage import mentions, subject_units
from pipeline.kinds.research.extractive import AUDIENCES, NAMES, TREND_DIMENSIONS, normalize_query
from pipeline.kinds.research.slots import Findings, RunningSummary
from pipeline.llm.base import Task
from pipeline.llm.extractive import CONCLUSION, RECOMMEND, ExtractiveLLM
from pipeline.llm.extractive_rank import document_sentences, norm_key, pieces
from pipeline.models import TaskContext

TOPIC = "人工智能发展趋势"
UNRELATED = "足球联赛转会"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def run() -> Run:
    return drive(ExtractiveLLM(ref_year=2025), TOPIC, docs(), breadth=2, loops=2)


def _worker_of(step: str) -> int | None:
    m = re.match(r"(?:research|analysis)\[(\d+)\]", step)
    return int(m.group(1)) if m else None


def _ref_texts(run: Run, step: str, ctx: TaskContext) -> dict[int, str]:
    """What each [n] of a call's output refers to: the worker's own numbering for research and analysis
    (a running summary cites sources of earlier rounds too), the global numbering for the synthesis."""
    w = _worker_of(step)
    if w is not None:
        return {d.ref: d.text for d in run.workers[w - 1].sources}
    return {d.ref: d.text for d in ctx.documents}


def _sentence_fields(value) -> list[str]:
    """Strings of a slot that hold cited sentences (titles are labels; queries and gaps are keywords)."""
    dump = value.model_dump()
    out: list[str] = []
    for key, v in dump.items():
        if key in ("subtopics", "query", "knowledge_gap", "follow_up_query"):
            continue
        if key in ("groups", "sections"):
            out.extend(p for g in v for p in g["points"])
        elif isinstance(v, list):
            out.extend(v)
        elif v:
            out.append(v)
    return out


def _final_outputs(run: Run) -> list[str]:
    """Everything the report shows: each worker's final summary, then every analysis and synthesis slot."""
    texts = [w.summary for w in run.workers]
    for call in run.calls:
        if call.kind.startswith(("analysis.", "synthesis.")) and call.completion.value is not None:
            texts.extend(_sentence_fields(call.completion.value))
    return texts


def test_protocol_identity() -> None:
    eng = ExtractiveLLM(ref_year=2025)
    assert (eng.provider, eng.model) == ("extractive", "textrank-mmr")
    assert eng.cache_identity()["ref_year"] == 2025 and eng.cache_identity()["provider"] == "extractive"


def _report_keys(run: Run) -> set[str]:
    return {norm_key(p) for text in _final_outputs(run) for s, _ in cited_sentences(text) for p in pieces(s)}


def test_every_slot_filled_and_valid(run: Run) -> None:
    """Every slot is filled, except one whose role no unused sentence fits: it says 资料不足 and takes
    nothing else. On this corpus that is 结论和建议 alone: every recommendation that names the topic (the
    synthesis gate) is in the report already, used by the workers' 实用建议."""
    kinds = [c.kind for c in run.calls]
    assert kinds.count("plan") == 1 and kinds.count("summarize") == 4 and kinds.count("reflect") == 2
    short = []
    for call in run.calls:
        done = call.completion
        assert done.requests == 0 and done.prompt_tokens == 0 and done.completion_tokens == 0
        if done.value is None:
            assert done.degraded.startswith("资料不足：") and call.kind.startswith(("analysis.", "synthesis.")), (
                f"{call.step}: {done.degraded}")
            short.append(call)
            continue
        type(done.value).model_validate(done.value.model_dump())
    for kind, schema in (*ANALYSES, *SYNTHESES):
        assert all(isinstance(c.completion.value, schema) for c in run.of(kind) if c.completion.value is not None)
    assert [c.kind for c in short] == ["synthesis.advice"]
    (advice,) = short
    used = _report_keys(run)
    for d in advice.context.documents:
        for s in document_sentences(d.text):
            if RECOMMEND.search(s.text) and mentions(subject_units(TOPIC), s.text):
                assert set(s.ids) & used, f"unused recommendation: {s.text}"


def test_every_sentence_is_verbatim_and_cites_its_source(run: Run) -> None:
    checked = 0
    for call in run.calls:
        value = call.completion.value
        if value is None:
            continue
        refs = _ref_texts(run, call.step, call.context)
        for text in _sentence_fields(value):
            for sentence, ref in cited_sentences(text):
                assert ref in refs, f"{call.step}: [{ref}] is not a source of this call"
                source = refs[ref]
                ok = sentence in source or (sentence.endswith("。") and sentence[:-1] + "；" in source)
                assert ok, f"{call.step}: not verbatim in [{ref}]: {sentence}"
                checked += 1
    assert checked > 60


def test_no_sentence_twice_in_the_report(run: Run) -> None:
    keys: list[str] = []
    for text in _final_outputs(run):
        keys.extend(norm_key(s) for s, _ in cited_sentences(text))
    dupes = {k for k in keys if keys.count(k) > 1}
    assert not dupes


def test_running_summary_grows_by_at_most_six_new_sentences_a_round(run: Run) -> None:
    for w in run.workers:
        summaries = [c for c in run.of("summarize") if _worker_of(c.step) == w.index]
        previous = ""
        for call in summaries:
            text = call.completion.value.summary
            assert call.context.summary == previous
            added = cited_sentences(text)
            assert 1 <= len(added) <= 6
            assert {ref for _, ref in added} <= {d.ref for d in call.context.documents}  # new sources only
            earlier = {norm_key(s) for s, _ in cited_sentences(previous)}
            assert not earlier & {norm_key(s) for s, _ in added}  # never says again what the summary says
            previous = f"{previous.rstrip()}\n\n{text}" if previous else text


def test_titles_are_labels(run: Run) -> None:
    trend_titles = {t for t, _ in TREND_DIMENSIONS}
    audience_titles = {t for t, _ in AUDIENCES}
    for call in run.calls:
        value = call.completion.value
        if call.kind == "analysis.trends":
            titles = [g.title for g in value.groups]
            assert set(titles) <= trend_titles
            assert titles == [t for t, _ in TREND_DIMENSIONS if t in titles]  # fixed order
        elif call.kind.endswith(".advice") and value is not None:
            assert {g.title for g in value.groups} <= audience_titles
            assert not value.closing or RECOMMEND.search(value.closing) or CONCLUSION.search(value.closing)
        elif call.kind in ("analysis.findings", "synthesis.details"):
            groups = value.groups if call.kind == "analysis.findings" else value.sections
            titles = [g.title for g in groups]
            assert len(set(titles)) == len(titles)
            for t in titles:
                assert 0 < len(t) <= 20 and not re.search(r"[。！？；\[\]]", t)


def test_sizes(run: Run) -> None:
    for call in run.calls:
        v = call.completion.value
        if call.kind == "analysis.findings":
            assert 1 <= len(v.groups) <= 3 and all(1 <= len(g.points) <= 4 for g in v.groups)
        elif call.kind == "analysis.trends":
            assert len(v.groups) <= 5 and all(1 <= len(g.points) <= 3 for g in v.groups)
        elif call.kind == "synthesis.details":
            assert 1 <= len(v.sections) <= 5 and all(1 <= len(g.points) <= 4 for g in v.sections)
        elif call.kind == "synthesis.findings":
            assert 1 <= len(v.points) <= 8
        elif call.kind == "synthesis.summary":
            assert "\n" not in v.text and 1 <= len(cited_sentences(v.text)) <= 5


def test_plan_labels(run: Run) -> None:
    subtopics = run.of("plan")[0].completion.value.subtopics
    assert len(subtopics) == 2 and len(set(subtopics)) == 2
    for s in subtopics:
        assert re.fullmatch(rf"{TOPIC}：[^：与]+(与[^：与]+)?", s) and len(s) <= 30


def test_queries_distinct_and_follow_ups_new(run: Run) -> None:
    for w in run.workers:
        normalized = [normalize_query(q) for q in w.queries]
        assert len(set(normalized)) == len(normalized)
    for call in run.of("reflect"):
        r = call.completion.value
        assert r.knowledge_gap.startswith("尚未覆盖：")
        assert normalize_query(r.follow_up_query) not in {normalize_query(q) for q in call.context.queries}
        assert len(r.follow_up_query) <= 80


def test_noise_is_never_quoted(run: Run) -> None:
    everything = "".join(s for c in run.calls for s in strings(c.completion.value))
    for noise in ("![", "**", "文 |", "算力是否已经过剩", "#"):
        assert noise not in everything


def test_identical_across_runs(run: Run) -> None:
    again = drive(ExtractiveLLM(ref_year=2025), TOPIC, docs(), breadth=2, loops=2)
    assert _digest(again) == _digest(run)


def _digest(run: Run) -> str:
    return json.dumps(
        [(c.step, c.completion.degraded, c.completion.value and c.completion.value.model_dump()) for c in run.calls],
        ensure_ascii=False,
    )


def test_identical_across_hash_seeds() -> None:
    """Set iteration order changes with PYTHONHASHSEED; the output must not."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from extractive_corpus import docs; from extractive_driver import drive;"
        "from test_extractive_engine import _digest, TOPIC;"
        "from pipeline.llm.extractive import ExtractiveLLM;"
        "print(_digest(drive(ExtractiveLLM(ref_year=2025), TOPIC, docs(), breadth=2, loops=2)))"
    )
    outs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code, str(HERE)], capture_output=True, text=True, env=env,
                              timeout=60, check=True)
        outs.append(done.stdout)
    assert outs[0] == outs[1] and outs[0].strip()


def test_unrelated_topic_degrades_plainly() -> None:
    eng = ExtractiveLLM(ref_year=2025)
    corpus = docs()
    plan = drive(eng, UNRELATED, corpus, breadth=2, loops=1).of("plan")[0].completion
    assert plan.value is None and plan.degraded == f"未找到与“{UNRELATED}”相关的资料，无法填写子主题"
    kinds = [k for k, _ in (*ANALYSES, *SYNTHESES)] + ["summarize", "reflect"]
    schemas = dict((*ANALYSES, *SYNTHESES, ("summarize", RunningSummary)))
    from pipeline.kinds.research.slots import Reflection

    schemas["reflect"] = Reflection
    for kind in kinds:
        ctx = TaskContext(topic=UNRELATED, subtopic=UNRELATED, documents=corpus, queries=[UNRELATED])
        done = eng.complete(Task(step=kind, kind=kind, schema=schemas[kind], messages=[], context=ctx))
        assert done.value is None
        assert done.degraded == f"未找到与“{UNRELATED}”相关的资料，无法填写{NAMES[kind]}"


def test_exhausted_pool_is_degraded_not_padded() -> None:
    eng = ExtractiveLLM(ref_year=2025)
    ctx = TaskContext(topic=TOPIC, subtopic=TOPIC, documents=docs()[:1])
    results = [eng.complete(Task(step="f", kind="analysis.findings", schema=Findings, messages=[], context=ctx))
               for _ in range(12)]
    filled = [r for r in results if r.value is not None]
    assert filled and results[-1].value is None
    why = results[-1].degraded
    # nothing left, or nothing left that fits the slot (the rest are not statements of fact)
    assert "已全部用于前文" in why or "留给了其他栏目" in why or why.startswith("资料不足：")


def test_observe_marks_replayed_answers_as_used() -> None:
    ctx = TaskContext(topic=TOPIC, subtopic=TOPIC, documents=docs())
    task = Task(step="f", kind="analysis.findings", schema=Findings, messages=[], context=ctx)
    first = ExtractiveLLM(ref_year=2025).complete(task).value
    fresh = ExtractiveLLM(ref_year=2025)
    fresh.observe(first)
    second = fresh.complete(task).value
    before = {norm_key(s) for t in _sentence_fields(first) for s, _ in cited_sentences(t)}
    after = {norm_key(s) for t in _sentence_fields(second) for s, _ in cited_sentences(t)}
    assert before and after and not before & after


def test_concurrent_calls_never_share_a_sentence() -> None:
    eng = ExtractiveLLM(ref_year=2025)
    ctx = TaskContext(topic=TOPIC, subtopic=TOPIC, documents=docs())
    results: list = []

    def work() -> None:
        results.append(eng.complete(Task(step="f", kind="analysis.findings", schema=Findings, messages=[],
                                         context=ctx)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [norm_key(s) for r in results if r.value for t in _sentence_fields(r.value) for s, _ in cited_sentences(t)]
    assert keys and len(keys) == len(set(keys))


def test_unknown_kind_is_degraded() -> None:
    ctx = TaskContext(topic=TOPIC, documents=docs())
    done = ExtractiveLLM().complete(Task(step="x", kind="digest.part1", schema=Findings, messages=[], context=ctx))
    assert done.value is None and "digest.part1" in done.degraded
