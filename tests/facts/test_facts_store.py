"""The facts store: imports, re-imports, transactions, encodings, refusals, curated facts.yaml."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from pipeline.facts.check import UNSUPPORTED, VERIFIED, check_text
from pipeline.facts.store import FactsError, FactStore, parse_curated
from pipeline.text import TermScanner

ORACLE = "甲骨文（Oracle）截至2025年8月31日的剩余履约义务为4550亿美元，同比增长359%。\n"
GOOD_YAML = """\
facts:
  - entity: 甲骨文
    metric: 剩余履约义务（RPO）
    value: 4550
    unit: 亿美元
    as_of: 2025-08-31
    source: https://example.com/oracle
    aliases: [Oracle, RPO]
  - entity: 字节跳动
    metric: AI芯片预算
    value: 1000
    unit: 亿元人民币
    source: https://example.com/bytedance
  - entity: 英伟达
    metric: 训练提速
    value: 2.2
    value_hi: 4.5
    unit: 倍
    approx: true
    source: https://example.com/nvidia
"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def snapshot(store: FactStore) -> tuple:
    """Everything a reader can see, to prove that a failed import changed nothing."""
    return store.count(), [(s.origin, s.facts) for s in store.list_sources()]


@pytest.fixture
def store(tmp_path: Path) -> FactStore:
    with FactStore(tmp_path / "db" / "facts.db") as s:
        yield s


def test_import_folder_and_offsets(store: FactStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    text = "---\ntitle: 甲骨文财报\nurl: https://example.com/o\ndate: 2025-09-10\n---\n" + ORACLE
    write(src / "oracle.md", text)
    write(src / "notes.txt", "寒武纪全年营收为333.98亿元人民币。")
    write(src / "image.png", "not a text suffix, ignored")
    result = store.import_path(src)
    assert (result.imported, result.unchanged, result.facts) == (2, 0, 3)
    sources = {s.title: s for s in store.list_sources()}
    assert sources["甲骨文财报"].url == "https://example.com/o"
    assert sources["甲骨文财报"].date == "2025-09-10"
    assert sources["notes"].url.startswith("file://")
    (fact,) = store.search("4550亿美元")
    assert text[fact.start : fact.end] == fact.text == "4550亿美元"
    assert fact.value == pytest.approx(4.55e11) and fact.unit == "USD"
    assert "rpo" in fact.near and "甲骨文" in fact.terms and "y2025" in fact.times


def test_reimport_unchanged_is_a_noop(store: FactStore, tmp_path: Path) -> None:
    f = write(tmp_path / "src" / "a.md", ORACLE)
    store.import_path(f.parent)
    before = snapshot(store)
    ids = [s.id for s in store.list_sources()]
    again = store.import_path(f.parent)
    assert (again.imported, again.unchanged, again.facts) == (0, 1, 0)
    assert snapshot(store) == before
    assert [s.id for s in store.list_sources()] == ids


def test_changed_file_replaces_its_facts(store: FactStore, tmp_path: Path) -> None:
    f = write(tmp_path / "src" / "a.md", ORACLE)
    store.import_path(f)
    write(f, ORACLE.replace("4550", "4800"))
    store.import_path(f)
    assert store.search("4550亿美元") == []
    assert len(store.search("4800亿美元")) == 1
    assert store.count() == (1, 2)


def test_bad_file_rolls_back_the_whole_import(store: FactStore, tmp_path: Path) -> None:
    write(tmp_path / "old" / "old.md", "旧资料：营收为100亿元。")
    store.import_path(tmp_path / "old")
    before = snapshot(store)
    src = tmp_path / "src"
    write(src / "a_good.md", ORACLE)
    (src / "b_binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    write(src / "c_good.md", "寒武纪全年营收为333.98亿元。")
    with pytest.raises(FactsError, match=r"b_binary\.md: binary file"):
        store.import_path(src)
    assert snapshot(store) == before


def _folder(root: Path, n: int) -> Path:
    for i in range(n):
        write(root / f"doc{i:02d}.md", f"第{i}号公司全年营收为{100 + i}.5亿元，同比增长{i + 3}.2%。该公司员工为{1200 + i}人。")
    return root


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods(),
    reason="workers are used only with two cores or more and fork",
)
def test_folder_read_by_worker_processes_is_stored_as_read_here(tmp_path: Path, monkeypatch) -> None:
    """A large folder is read by forked workers while this process writes: same rows, same order."""
    import pipeline.facts.store as store_module

    src = _folder(tmp_path / "src", 12)
    columns = "source_id, value, value_hi, unit, text, sentence, near, terms, times, role, head, names, sterms, skey"
    with FactStore(tmp_path / "serial.db") as s:
        assert s.import_path(src).facts == 36
        serial = s._db.execute(f"SELECT {columns} FROM facts ORDER BY id").fetchall()
    monkeypatch.setattr(store_module, "PARALLEL_FILES", 4)
    store_module._cached_rows.cache_clear()
    here: list[str] = []  # texts whose rows this process computed (a worker's calls stay in the worker)
    real = store_module._compute_rows
    monkeypatch.setattr(store_module, "_compute_rows", lambda text, offset: here.append(text) or real(text, offset))
    with FactStore(tmp_path / "parallel.db") as s:
        assert s.import_path(src).facts == 36
        assert s._db.execute(f"SELECT {columns} FROM facts ORDER BY id").fetchall() == serial
    assert here == []


def test_bad_file_in_a_folder_read_by_workers_rolls_back(store: FactStore, tmp_path: Path, monkeypatch) -> None:
    import pipeline.facts.store as store_module

    monkeypatch.setattr(store_module, "PARALLEL_FILES", 4)
    src = _folder(tmp_path / "src", 10)
    (src / "doc05.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    before = snapshot(store)
    with pytest.raises(FactsError, match=r"doc05\.md: binary file"):
        store.import_path(src)
    assert snapshot(store) == before


def test_gb18030_file_is_decoded(store: FactStore, tmp_path: Path) -> None:
    f = write(tmp_path / "gbk.txt", "英伟达数据中心收入为411亿美元，同比增长56%。", encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        f.read_bytes().decode("utf-8")
    result = store.import_path(f)
    assert result.facts == 2
    (fact,) = store.search("411亿美元")
    assert "英伟达" in fact.sentence


def test_binary_file_is_refused(store: FactStore, tmp_path: Path) -> None:
    f = tmp_path / "blob.md"
    f.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(FactsError, match=r"blob\.md: binary file"):
        store.import_path(f)
    assert store.count() == (0, 0)


def test_50_mb_file_is_refused_without_reading_it(store: FactStore, tmp_path: Path, monkeypatch) -> None:
    big = tmp_path / "huge.md"
    with big.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: instant, takes no disk
    real_read = Path.read_bytes

    def guarded(self: Path) -> bytes:
        assert self.name != "huge.md", "the 50 MB file must not be read"
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    with pytest.raises(FactsError, match=r"huge\.md: 50\.0 MiB is over the 20 MiB limit"):
        store.import_path(big)
    assert store.count() == (0, 0)


def test_malformed_front_matter_names_file_and_line(store: FactStore, tmp_path: Path) -> None:
    f = write(tmp_path / "fm.md", "---\ntitle: ok\nurl: [unclosed\n---\n正文100亿元。\n")
    with pytest.raises(FactsError, match=r"fm\.md:\d+: malformed front matter"):
        store.import_path(f)
    assert store.count() == (0, 0)


def test_missing_path(store: FactStore, tmp_path: Path) -> None:
    with pytest.raises(FactsError, match="no such file or folder"):
        store.import_path(tmp_path / "nope")


def test_import_text_is_idempotent_and_replaces_by_url(store: FactStore) -> None:
    assert store.import_text(ORACLE, title="snippet", url="https://example.com/o") == 2
    assert store.import_text(ORACLE, title="snippet", url="https://example.com/o") == 0
    assert store.count() == (1, 2)
    page = ORACLE + "云基础设施收入为33亿美元。"
    assert store.import_text(page, title="page", url="https://example.com/o") == 3
    assert store.count() == (1, 3)
    with pytest.raises(FactsError, match="url is required"):
        store.import_text("100亿元", title="x", url="")


def test_curated_facts(store: FactStore, tmp_path: Path) -> None:
    f = write(tmp_path / "facts.yaml", GOOD_YAML)
    result = store.load_curated(f)
    assert (result.imported, result.facts) == (1, 3)
    assert store.load_curated(f).unchanged == 1
    (rpo,) = store.search("4550亿美元")
    assert rpo.source == "https://example.com/oracle"
    assert {"甲骨文", "rpo"} <= rpo.near and "y2025" in rpo.times
    (nv,) = store.search("英伟达")
    assert (nv.value, nv.value_hi, nv.unit, nv.approx) == (2.2, 4.5, "x", True)
    assert len(store.list_sources()) == 3  # one source per URL


def test_folder_import_includes_its_facts_yaml(store: FactStore, tmp_path: Path) -> None:
    write(tmp_path / "src" / "a.md", ORACLE)
    write(tmp_path / "src" / "facts.yaml", GOOD_YAML)
    result = store.import_path(tmp_path / "src")
    assert result.facts == 5


BAD_YAML = [
    (GOOD_YAML.replace("value: 4550", "value: '4550'"), 4, r"facts\[0\]\.value: expected a number, got text '4550'"),
    (GOOD_YAML.replace("    unit: 亿美元\n", ""), 2, r"facts\[0\]\.unit: missing"),
    (GOOD_YAML.replace("https://example.com/bytedance", "bytedance.com"), 13, r"facts\[1\]\.source: expected an http\(s\) URL"),
    (GOOD_YAML.replace("aliases: [Oracle, RPO]", "aliases: Oracle"), 8, r"facts\[0\]\.aliases: expected a list"),
    (GOOD_YAML.replace("value: 1000", "value: true"), 11, r"facts\[1\]\.value: expected a number, got bool"),
    (GOOD_YAML.replace("unit: 倍", "unit: 不知道"), 18, r"facts\[2\]\.unit: '不知道' with value 2\.2 is not a quantity"),
    (GOOD_YAML.replace("entity: 字节跳动", "entity: [a, b]"), 9, r"facts\[1\]\.entity: expected non-empty text"),
    (GOOD_YAML.replace("approx: true", "approx: maybe"), 19, r"facts\[2\]\.approx: expected true or false"),
    ("facts:\n  - entity: x\n    metric: [unclosed\n", 4, r"malformed YAML"),
    ("facts: 3\n", 1, r"'facts' must be a list"),
    ("title: no facts here\n", 1, r"missing top-level 'facts:' list"),
    ("facts:\n  - just a string\n", 2, r"facts\[0\] must be a mapping"),
]


@pytest.mark.parametrize(("text", "line", "message"), BAD_YAML)
def test_curated_errors_name_file_line_and_field(store: FactStore, tmp_path: Path, text: str, line: int, message: str) -> None:
    store.import_text("旧资料：营收为100亿元。", title="old", url="https://example.com/old")
    before = snapshot(store)
    f = write(tmp_path / "facts.yaml", text)
    with pytest.raises(FactsError, match=rf"facts\.yaml:{line}: .*{message}"):
        store.load_curated(f)
    assert snapshot(store) == before


def test_parse_curated_empty_is_fine() -> None:
    assert parse_curated("", "facts.yaml") == []
    assert parse_curated("facts:\n", "facts.yaml") == []


def test_search_by_word_and_by_value(store: FactStore) -> None:
    store.import_text(ORACLE, title="甲骨文财报", url="https://example.com/o")
    assert [f.text for f in store.search("Oracle")] == ["4550亿美元", "359%"]
    assert [f.text for f in store.search("359%")] == ["359%"]
    assert [f.text for f in store.search("甲骨文财报")] == ["4550亿美元", "359%"]
    assert store.search("不存在的词") == []
    assert store.search("100%_") == []


def test_wal_and_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "facts.db"
    with FactStore(path) as a, FactStore(path) as b:
        assert a._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert a._db.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        a.import_text(ORACLE, title="t", url="https://example.com/o")
        assert b.count() == (1, 2)  # another connection sees committed facts


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "facts.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(FactsError, match=r"facts\.db: cannot open the facts store"):
        FactStore(bad)


def test_values_are_indexed(store: FactStore) -> None:
    plan = " ".join(
        str(r[-1])
        for r in store._db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM facts WHERE uclass IN ('usd', '') AND value BETWEEN 1 AND 2"
        )
    )
    assert "facts_unit_value" in plan
    assert isinstance(store._db, sqlite3.Connection)


def test_terms_are_rederived_when_the_lexicon_changes(tmp_path: Path, monkeypatch) -> None:
    """A store written with another lexicon re-reads its sentences: the new synonym is found (a round
    figure, which no value alone may verify)."""
    path = tmp_path / "facts.db"
    with FactStore(path) as s:
        s.import_text("星海公司在发布会上宣布，年度流水为100亿元。", title="t", url="https://example.com/x")
        assert check_text("星海公司的营收为100亿元。", s).claims[0].status == UNSUPPORTED
    import pipeline.facts.referents as referents

    old = referents.SCANNER
    wider = TermScanner({**old.lexicon, "年度流水": "营收"}, old.fold, old.separators, old.skip_pair)
    monkeypatch.setattr(referents, "SCANNER", wider)
    referents.tokens.cache_clear()
    referents.sentence_terms.cache_clear()
    import pipeline.facts.store as store_module

    monkeypatch.setattr(store_module, "vocabulary_id", lambda: "changed")
    with FactStore(path) as s:
        assert s._db.execute("SELECT value FROM meta WHERE key = 'vocabulary'").fetchone()[0] == "changed"
        near, sterms = s._db.execute("SELECT near, sterms FROM facts").fetchone()
        assert "营收" in near.split() and "营收" in sterms.split()
        assert check_text("星海公司的营收为100亿元。", s).claims[0].status == VERIFIED
    referents.tokens.cache_clear()
    referents.sentence_terms.cache_clear()


def test_term_counts_follow_imports_and_replacements(store: FactStore, tmp_path: Path) -> None:
    """term_df (how rare a term is) must equal the postings after inserts and replacements."""

    def consistent() -> bool:
        counted = dict(
            ((t, c), n) for t, c, n in store._db.execute("SELECT term, uclass, n FROM term_df WHERE n > 0")
        )
        actual = dict(
            ((t, c), n)
            for t, c, n in store._db.execute("SELECT term, uclass, COUNT(*) FROM fact_terms GROUP BY term, uclass")
        )
        return counted == actual and bool(actual)

    f = write(tmp_path / "a.md", ORACLE + "英伟达数据中心收入为411亿美元。")
    store.import_path(f)
    assert consistent()
    write(f, ORACLE)
    store.import_path(f)
    assert consistent()
    store.import_text(ORACLE, title="t", url="https://example.com/o")
    assert consistent()


def test_a_schema_4_store_gains_sentence_terms_in_place(tmp_path: Path) -> None:
    """Schema 5 stores each fact's sentence terms; a schema-4 store keeps its facts and gets them."""
    path = tmp_path / "facts.db"
    with FactStore(path) as s:
        s.import_text(ORACLE, title="t", url="https://example.com/o")
        want = s._db.execute("SELECT id, sterms FROM facts ORDER BY id").fetchall()
    assert all(terms for _, terms in want)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE facts DROP COLUMN sterms")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with FactStore(path) as s:
        assert s._db.execute("PRAGMA user_version").fetchone()[0] == 5
        assert s._db.execute("SELECT id, sterms FROM facts ORDER BY id").fetchall() == want
        assert check_text("甲骨文的剩余履约义务为4550亿美元。", s).claims[0].status == VERIFIED


class _CountingConnection:
    """A connection that counts the candidate lookups sent to SQLite."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lookups = 0

    def execute(self, sql: str, params: object = ()) -> sqlite3.Cursor:
        self.lookups += "FROM fact_terms" in sql
        return self.db.execute(sql, params)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.db, name)


def test_candidate_lookups_are_memoized_within_a_check_only(store: FactStore) -> None:
    store.import_text(ORACLE, title="t", url="https://example.com/o")
    spy = _CountingConnection(store._db)  # type: ignore[arg-type]
    store._db = spy  # type: ignore[assignment]
    ask = ({"甲骨文", "剩余履约义务"}, ["usd"])
    first = store.candidates(*ask)
    assert first and store.candidates(*ask) == first and spy.lookups == 2  # outside a check: asked each time
    with store.memoized():
        assert store.candidates(*ask) == first and store.candidates(*ask) == first
        assert spy.lookups == 3  # asked once in the block
        store.import_text("英伟达数据中心收入为411亿美元。", title="n", url="https://example.com/n")
        store.candidates(*ask)
        assert spy.lookups == 4  # a write forgets what was looked up
    store.candidates(*ask)
    assert spy.lookups == 5


def test_a_check_asks_sqlite_once_for_a_lookup_its_claims_repeat(store: FactStore) -> None:
    store.import_text(ORACLE, title="t", url="https://example.com/o")
    spy = _CountingConnection(store._db)  # type: ignore[arg-type]
    store._db = spy  # type: ignore[assignment]
    once = "甲骨文的剩余履约义务为4550亿美元。"
    check_text(once, store)
    single = spy.lookups
    spy.lookups = 0
    assert [c.status for c in check_text(once * 3, store).claims] == [VERIFIED] * 3
    assert 0 < spy.lookups == single  # the same sentence again asks nothing new


def test_a_store_read_with_other_rules_reimports_unchanged_sources(tmp_path: Path, monkeypatch) -> None:
    import pipeline.facts.store as store_module

    src = write(tmp_path / "src" / "a.md", ORACLE)
    path = tmp_path / "facts.db"
    with FactStore(path) as s:
        assert s.import_path(src).imported == 1
        assert s.import_path(src).unchanged == 1  # same rules, same file: nothing to do
    monkeypatch.setattr(store_module, "RULES", "newer")
    with FactStore(path) as s:
        assert s.count() == (1, 2)  # the facts stay usable
        again = s.import_path(src)
        assert (again.imported, again.unchanged, again.facts) == (1, 0, 2)  # read again with the new rules
        assert s.count() == (1, 2)
        assert s.import_path(src).unchanged == 1


def test_a_write_on_another_thread_empties_a_checks_memo(store: FactStore) -> None:
    import threading

    store.import_text(ORACLE, title="t", url="https://example.com/o")
    ask = ({"英伟达", "数据中心"}, ["usd"])
    with store.memoized():
        assert store.candidates(*ask) == []
        writer = threading.Thread(
            target=store.import_text, args=("英伟达数据中心收入为411亿美元。",), kwargs={"title": "n", "url": "https://example.com/n"}
        )
        writer.start()
        writer.join()
        assert [f.value for f in store.candidates(*ask)] == [41_100_000_000]
