"""`pipeline.text` is the one tokenizer: the only module that imports jieba, the one base stop list every
purpose builds on, and token functions that behave as the rooms rely on. (Private names of any module,
this one included, are held by tests/unit/test_import_graph.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipeline import text
from pipeline.text import (
    KEYWORD_STOP_WORDS,
    PASSAGE_STOP_WORDS,
    REFERENT_STOP_WORDS,
    SEARCH_STOP_WORDS,
    STOP_WORDS,
    TermScanner,
    passage_tokens,
    prewarm,
    tokens,
    topic_words,
)

PACKAGE = Path(text.__file__).resolve().parent


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, at any depth (functions too), `from x import y` as x.y."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
            out.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    return out


def _jieba_imports(path: Path) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{line}: {mod}" for line, mod in _imported_modules(path)
            if mod == "jieba" or mod.startswith("jieba.")]


def test_only_the_text_module_imports_jieba():
    offenders = [hit for f in sorted(PACKAGE.rglob("*.py")) if f != PACKAGE / "text.py" for hit in _jieba_imports(f)]
    assert offenders == []


def test_the_import_walk_sees_jieba_where_it_is_imported(tmp_path):
    """The walk above can fail: it finds the text module's own (function-level) imports, and a module-level
    `from jieba import ...` in any file."""
    assert _jieba_imports(PACKAGE / "text.py")
    stray = tmp_path / "stray.py"
    stray.write_text("def f():\n    from jieba import posseg\n    return posseg\n", encoding="utf-8")
    assert [m for _, m in _imported_modules(stray)] == ["jieba", "jieba.posseg"]


def test_every_purpose_builds_on_the_base_stop_list():
    assert STOP_WORDS <= SEARCH_STOP_WORDS
    assert STOP_WORDS <= PASSAGE_STOP_WORDS
    # the facts check's separators take the base list's words (its single characters are FUNCTION_CHARS' job)
    assert {w for w in STOP_WORDS if len(w) > 1 and not w.isascii()} <= REFERENT_STOP_WORDS
    # the extra sets are documented as different things, not copies of the base list
    assert KEYWORD_STOP_WORDS - STOP_WORDS and REFERENT_STOP_WORDS - STOP_WORDS


def test_the_search_index_is_rebuilt_when_the_tokens_change(monkeypatch):
    """The local index stores tokens: its schema version carries `tokens_id`, which follows the stop words."""
    from pipeline.search import local

    assert local.SCHEMA_VERSION.endswith(text.tokens_id())
    before = text.tokens_id()
    monkeypatch.setattr(text, "SEARCH_STOP_WORDS", SEARCH_STOP_WORDS | {"英伟达"})
    assert text.tokens_id() != before


def test_search_tokens_drop_stop_words_digits_and_punctuation():
    toks = tokens("我们认为，2025年英伟达的数据中心收入将继续增长！")
    assert "数据中心" in toks and "收入" in toks
    assert not {"我们", "认为", "的", "将", "2025", "，", "！"} & set(toks)


def test_passage_tokens_keep_figures_for_ranking_a_page():
    toks = passage_tokens("点击阅读更多：2025年数据中心收入为1152亿美元")
    assert "2025" in toks and "数据中心" in toks
    assert not {"点击", "阅读", "更多"} & set(toks)


def test_topic_words_glue_a_name_jieba_cuts_apart():
    words = topic_words("台积电的先进封装")
    assert "台积电" in words and "的" not in words


def test_term_scanner_makes_no_bigram_across_a_separator():
    scanner = TermScanner({"营业收入": "营收"}, lambda w: w.lower())
    terms = [t for t, _, _ in scanner.terms("全年公司实现营业收入")]
    assert "营收" in terms
    assert "年公" not in terms and "司实" not in terms  # 公司 and 实现 are separators
    spans = scanner.terms("甲乙营业收入")
    assert ("甲乙", 0, 2) in spans and ("营收", 2, 6) in spans


def test_prewarm_fills_the_passage_token_cache():
    piece = "预热线程切分的段落：液冷数据中心的建设进度"
    futures = prewarm([f"{piece}\n{piece}"], lambda t: t.splitlines())
    for f in futures:
        f.result(timeout=60)
    before = passage_tokens.cache_info().hits
    passage_tokens(piece)
    assert passage_tokens.cache_info().hits == before + 1


@pytest.mark.parametrize("empty", [[], [""]])
def test_prewarm_of_nothing_submits_nothing(empty):
    assert prewarm(empty, lambda t: [t]) == []
