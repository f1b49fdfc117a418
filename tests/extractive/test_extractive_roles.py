"""Every slot gets material that fits it: the extractive engine picks sentences by the slot's role (a
finding, a trend, a risk, a recommendation, a scenario), says 资料不足 when none fits, never opens with a
dangling connective, never quotes a fragment, states a fact once, and names the topic's subject in the
executive summary."""

from __future__ import annotations

import re

import pytest
from extractive_corpus import docs
from extractive_driver import Run, cited_sentences, drive

from pipeline.kinds.coverage import mentions, subject_units
from pipeline.kinds.research.extractive import BASE_CUES, TREND
from pipeline.kinds.research.slots import Advice, Outlook
from pipeline.llm.base import Task
from pipeline.llm.extractive import FORWARD, RECOMMEND, RISK, RISK_CUES, ExtractiveLLM
from pipeline.llm.extractive_rank import cue_hits, dangling, pieces, same_fact, sentence_facts
from pipeline.models import Doc, TaskContext, source_id

TOPIC = "人工智能发展趋势"


@pytest.fixture(scope="module")
def run() -> Run:
    return drive(ExtractiveLLM(ref_year=2025), TOPIC, docs(), breadth=2, loops=2)


def _values(run: Run, kind: str) -> list:
    return [c.completion.value for c in run.of(kind) if c.completion.value is not None]


def _sentences(text: str) -> list[str]:
    return [s for s, _ in cited_sentences(text)]


def _report(run: Run) -> list[str]:
    """Every cited unit of the report, in report order (summaries, analyses, syntheses)."""
    out = [s for w in run.workers for s in _sentences(w.summary)]
    for call in run.calls:
        v = call.completion.value
        if v is None or not call.kind.startswith(("analysis.", "synthesis.")):
            continue
        for key, field in v.model_dump().items():
            if key in ("groups", "sections"):
                out.extend(s for g in field for p in g["points"] for s in _sentences(p))
            elif isinstance(field, list):
                out.extend(s for p in field for s in _sentences(p))
            elif field:
                out.extend(_sentences(field))
    return out


def test_advice_slots_hold_recommendations_only(run):
    values = [*_values(run, "analysis.advice"), *_values(run, "synthesis.advice")]
    assert values
    for v in values:
        for g in v.groups:
            for p in g.points:
                assert RECOMMEND.search(p), f"{g.title}: not a recommendation: {p}"


def test_outlook_holds_forward_looking_sentences_and_fitting_scenarios(run):
    values = _values(run, "analysis.outlook")
    assert values
    for v in values:
        for p in [*v.near_term, *v.long_term]:
            assert FORWARD.search(p), f"not forward-looking: {p}"
        for case in (v.base_case, v.optimistic_case, v.cautious_case):
            assert not case or FORWARD.search(case)
        if v.base_case:  # a base case is a plain forecast: neither a risk nor an upside
            assert cue_hits(v.base_case, BASE_CUES) and not RISK.search(v.base_case)
        if v.cautious_case:
            assert RISK.search(v.cautious_case) or re.search(r"(?:若|如果|一旦)[^。]*?(?:可能|或将)", v.cautious_case)


def test_trends_and_risks_fit_their_role(run):
    for v in _values(run, "analysis.trends"):
        for g in v.groups:
            for p in g.points:
                assert TREND.search(p), f"not a trend: {p}"
    for v in _values(run, "analysis.assessment"):
        for p in v.risks:
            assert RISK.search(p) or cue_hits(p, RISK_CUES), f"not a risk: {p}"


def test_executive_summary_opens_with_the_subject(run):
    (summary,) = _values(run, "synthesis.summary")
    first, *rest = _sentences(summary.text)
    subject = subject_units(TOPIC)
    assert mentions(subject, first)
    assert all(mentions(subject, s) for s in rest)


def test_no_dangling_opening_unless_its_predecessor_comes_with_it(run):
    corpus = "".join(d.text for d in docs())
    for unit in _report(run):
        parts = pieces(unit)
        assert not dangling(parts[0]), f"dangling opening: {unit}"
        for prev, cur in zip(parts, parts[1:], strict=False):  # a pair: the one it leans on, right before it
            assert prev + cur in corpus, unit


def test_no_fragment(run):
    """Each quoted sentence is a whole sentence of its source: it starts where a sentence starts, and ends
    where one ends (not at a `；` in mid-line)."""
    corpus = "\n".join(d.text for d in docs())
    for unit in _report(run):
        for s in pieces(unit):
            core = s.rstrip("。；")
            i = corpus.find(core)
            assert i >= 0, s
            assert i == 0 or corpus[i - 1] in "。！？\n*> ", f"starts mid-sentence: {s}"
            after = corpus[i + len(core): i + len(core) + 2]
            assert after[:1] in "。！？" or (after[:1] in "；;" and after[1:] in ("\n", "")), f"cut at a semicolon: {s}"


def test_a_fact_is_stated_once(run):
    facts = [(i, f) for i, s in enumerate(_report(run)) for f in sentence_facts(s)]
    for a in range(len(facts)):
        for b in range(a + 1, len(facts)):
            (i, f), (j, g) = facts[a], facts[b]
            assert i == j or not same_fact(f, g), f"stated twice: {f}"


def _doc(ref: int, text: str) -> Doc:
    url = f"https://example.cn/{ref}"
    return Doc(ref=ref, source_id=source_id(url), title="人工智能产业观察", url=url, text=text)


def test_no_fitting_sentence_says_资料不足_instead_of_the_nearest():
    """News items (figures, events) near an advice or outlook slot are not advice or an outlook."""
    news = _doc(1, "多家云厂商的财报显示，人工智能算力的资本开支同比增长了62%。\n"
                   "一家大型云服务商表示，其新建的人工智能智算中心已部署超过两万张加速卡。\n"
                   "人工智能服务器的出货量在上半年明显上升，主要客户是互联网公司。\n")
    eng = ExtractiveLLM(ref_year=2025)
    ctx = TaskContext(topic=TOPIC, subtopic=TOPIC, documents=[news])
    for kind, schema in (("analysis.advice", Advice), ("analysis.outlook", Outlook)):
        done = eng.complete(Task(step=kind, kind=kind, schema=schema, messages=[], context=ctx))
        assert done.value is None and done.degraded.startswith("资料不足："), done.degraded
