"""LocalSearch: FTS5 over jieba tokens, refresh on change, skipped files, errors, determinism."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from search_corpus import STORAGE, TEA

from pipeline.search.base import SearchError
from pipeline.search.local import LocalSearch, make_snippet, split_passages


def names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def bump(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Rewrite a file and move its mtime forward, so the change is seen even on coarse-mtime filesystems."""
    path.write_text(text, encoding=encoding)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def test_chinese_query_finds_the_right_document(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    results = search.search("储能 峰谷电价 回收期", max_results=3)
    assert names(results)[0] == "storage.md"
    top = results[0]
    assert top.title == "工商业储能的收益测算"
    assert top.url == "https://example.org/storage"
    assert top.publisher == "示例能源观察"
    assert top.date == "2024-03-18"  # YAML parsed it as a date; we want the ISO text back
    assert top.engine == "local"
    assert top.path == str((corpus / "storage.md").resolve())
    assert top.content.startswith("# 工商业储能的收益测算") and "需量管理" in top.content
    assert "峰谷" in top.snippet and len(top.snippet) <= 300


def test_one_result_per_document_and_max_results(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    results = search.search("储能 光伏 算力 茶 电动车", max_results=10)
    assert len(results) == len(set(names(results))) == 5
    assert len(search.search("储能 光伏 算力 茶 电动车", max_results=2)) == 2


def test_gb18030_file_is_indexed(corpus: Path, index_path: Path) -> None:
    results = LocalSearch(corpus, index_path).search("电动车出口 泰国 工厂")
    assert names(results)[0] == "ev-export.md"
    assert results[0].title == "新能源汽车出口的新市场"


def test_file_without_front_matter(corpus: Path, index_path: Path) -> None:
    [top, *_] = LocalSearch(corpus, index_path).search("普洱 春茶 收购价")
    assert names([top]) == ["tea.txt"]
    assert top.title == "tea"
    assert top.url == (corpus / "tea.txt").resolve().as_uri()
    assert top.date == "" and top.publisher == ""


def test_quoted_date_and_url_kept_as_written(corpus: Path, index_path: Path) -> None:
    [top, *_] = LocalSearch(corpus, index_path).search("分布式光伏 并网 配电网")
    assert top.date == "2023-11-02"
    assert top.url == "https://example.org/pv?utm_source=feed"


def test_binary_and_malformed_files_are_skipped_with_warnings(
    corpus: Path, index_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="yanbao.search"):
        search = LocalSearch(corpus, index_path)
    assert search.document_count == 5
    assert len(search.warnings) == 2
    broken, image = search.warnings
    assert "broken.md" in broken and "malformed front matter" in broken
    assert "image.md" in image and "binary" in image
    assert all("\n" not in w for w in search.warnings)
    assert sum("skipped" in r.getMessage() for r in caplog.records) == 2
    assert search.search("语法错误 前置元数据") == []


def test_warnings_survive_a_reopened_index(corpus: Path, index_path: Path) -> None:
    LocalSearch(corpus, index_path).close()
    again = LocalSearch(corpus, index_path)
    assert len(again.warnings) == 2
    assert again.refresh() == {"added": 0, "updated": 0, "removed": 0}


def test_refresh_after_edit_add_delete(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    identity = search.cache_identity()
    assert names(search.search("普洱 茶农"))[:1] == ["tea.txt"]

    bump(corpus / "tea.txt", "高原牧场的牦牛奶被加工成奶酪，通过冷链运往沿海城市。\n")
    (corpus / "new.md").write_text(
        "---\ntitle: 海上风电\n---\n深远海风电场的漂浮式基础仍在示范阶段。\n", encoding="utf-8"
    )
    (corpus / "storage.md").unlink()
    assert search.refresh() == {"added": 1, "updated": 1, "removed": 1}

    assert "tea.txt" not in names(search.search("普洱 茶农"))
    assert names(search.search("牦牛 奶酪")) == ["tea.txt"]
    assert names(search.search("漂浮式 风电")) == ["new.md"]
    assert "storage.md" not in names(search.search("储能 峰谷电价"))
    assert search.document_count == 5
    assert search.cache_identity()["corpus"] != identity["corpus"]
    assert search.cache_identity()["root"] == str(corpus.resolve())


def test_search_refreshes_on_its_own(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    search.REFRESH_INTERVAL_S = 0.0
    (corpus / "late.md").write_text("养蜂人把蜂箱转场到油菜花田。\n", encoding="utf-8")
    assert names(search.search("蜂箱 油菜花")) == ["late.md"]


def test_refresh_is_throttled(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    search.REFRESH_INTERVAL_S = 3600.0
    (corpus / "late.md").write_text("养蜂人把蜂箱转场到油菜花田。\n", encoding="utf-8")
    assert search.search("蜂箱 油菜花") == []  # not rescanned within the interval
    search.refresh()
    assert names(search.search("蜂箱 油菜花")) == ["late.md"]


def test_fixed_malformed_file_is_picked_up(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    bump(corpus / "broken.md", "---\ntitle: 修好了\n---\n前置元数据已经修正，鲸鱼迁徙的路线被记录下来。\n")
    search.refresh()
    assert search.document_count == 6
    assert search.search("鲸鱼 迁徙")[0].title == "修好了"


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SearchError) as info:
        LocalSearch(tmp_path / "nope", tmp_path / "i.sqlite")
    assert info.value.kind == "config"
    assert str(info.value) == f"sources folder not found: {tmp_path / 'nope'}"


def test_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file.md").write_text("文本", encoding="utf-8")
    with pytest.raises(SearchError) as info:
        LocalSearch(tmp_path / "file.md", tmp_path / "i.sqlite")
    assert info.value.kind == "config" and "not a folder" in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any folder")
def test_unreadable_folder(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        with pytest.raises(SearchError) as info:
            LocalSearch(locked, tmp_path / "i.sqlite")
        assert info.value.kind == "config" and "cannot read" in str(info.value)
    finally:
        locked.chmod(0o755)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(SearchError) as info:
        LocalSearch(tmp_path / "src", tmp_path / "i.sqlite")
    assert info.value.kind == "empty"
    assert str(info.value).startswith(f"no usable documents in {tmp_path / 'src'} (")


def test_folder_with_only_unusable_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_bytes(b"\x00\x01\x02")
    with pytest.raises(SearchError) as info:
        LocalSearch(src, tmp_path / "i.sqlite")
    assert info.value.kind == "empty" and "a.md" in str(info.value) and "binary" in str(info.value)


def test_corrupt_index_is_rebuilt(corpus: Path, index_path: Path) -> None:
    index_path.parent.mkdir(parents=True)
    index_path.write_bytes(b"this is not a sqlite database" * 100)
    assert LocalSearch(corpus, index_path).document_count == 5


def test_index_moved_to_another_root_is_rebuilt(tmp_path: Path, index_path: Path) -> None:
    from search_corpus import write_corpus

    a = write_corpus(tmp_path / "a")
    b = tmp_path / "b"
    b.mkdir()
    (b / "only.md").write_text("候鸟在湿地停歇补充体力。\n", encoding="utf-8")
    assert LocalSearch(a, index_path).document_count == 5
    search_b = LocalSearch(b, index_path)
    assert search_b.document_count == 1 and search_b.warnings == []


def test_deterministic_ordering(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("c.md", "a.md", "b.md"):
        (src / name).write_text(TEA, encoding="utf-8")  # identical text: equal scores, ties by path
    (src / "z.md").write_text(STORAGE, encoding="utf-8")
    first = LocalSearch(src, tmp_path / "one.sqlite").search("普洱 茶农 电商", max_results=5)
    second = LocalSearch(src, tmp_path / "two.sqlite").search("普洱 茶农 电商", max_results=5)
    assert names(first) == ["a.md", "b.md", "c.md"]
    assert [r.model_dump() for r in first] == [r.model_dump() for r in second]


def test_queries_of_stop_words_or_symbols(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    assert search.search("的 了") == []
    assert search.search('"储能" OR NEAR(') != []  # FTS5 syntax in a query is text, not an operator
    assert search.search("储能", max_results=0) == []


def test_concurrent_searches(corpus: Path, index_path: Path) -> None:
    search = LocalSearch(corpus, index_path)
    search.REFRESH_INTERVAL_S = 0.0  # every search also rescans: exercises refresh under contention
    expected = names(search.search("储能 光伏"))
    errors: list[BaseException] = []
    seen: list[list[str]] = []

    def worker() -> None:
        try:
            for _ in range(20):
                seen.append(names(search.search("储能 光伏")))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(seen) == 160 and all(s == expected for s in seen)


def test_passages_are_300_to_500_characters() -> None:
    para = "。".join(f"第{i}句话讲述了港口集装箱吞吐量的季节变化和航线调整" for i in range(12)) + "。"
    body = "# 标题\n\n" + "\n\n".join([para] * 4) + "\n\n短尾段落。"
    passages = split_passages(body)
    assert len(passages) >= 4
    assert all(len(p) <= 500 for p in passages)
    assert all(len(p) >= 150 for p in passages)
    assert passages[0].startswith("标题")
    assert "短尾段落。" in passages[-1]
    assert split_passages("一" * 1200) == ["一" * 500, "一" * 500, "一" * 200]


def test_snippet_prefers_sentences_with_query_terms() -> None:
    filler = "这一句只是铺垫背景内容没有关键词。" * 12
    passage = filler + "真正相关的是钠离子电池的量产节奏。" + filler
    snippet = make_snippet(passage, ["钠离子", "电池"])
    assert "钠离子电池" in snippet and len(snippet) <= 300
    assert make_snippet("短文本。", ["x"]) == "短文本。"
    assert len(make_snippet("长" * 900, ["长"])) == 300


def _write_big_corpus(root: Path, n: int = 30) -> None:
    root.mkdir()
    topics = ["储能", "光伏", "算力", "茶叶", "电动车", "港口", "风电", "芯片", "物流", "医药"]
    for i in range(n):
        topic = topics[i % len(topics)]
        paras = [
            f"第{i}号样本讨论{topic}行业的第{j}个侧面：企业在{2015 + j}年前后调整了产能布局，"
            f"上下游的议价能力随之变化，编号{i * 100 + j}的项目在试点城市完成了验收，"
            f"地方部门随后发布了配套的补贴细则和安全规范，市场参与者普遍认为成本仍有下降空间。"
            for j in range(12)
        ]
        (root / f"doc{i:02d}.md").write_text(
            f"---\ntitle: {topic}观察{i}\ndate: 2024-01-{i % 28 + 1:02d}\n---\n" + "\n\n".join(paras),
            encoding="utf-8",
        )


def test_thirty_document_index_builds_searches_and_reopens(tmp_path: Path) -> None:
    # Behaviour only: speed belongs in bench/, not in a test a loaded machine can fail.
    _write_big_corpus(tmp_path / "big")
    search = LocalSearch(tmp_path / "big", tmp_path / "big.sqlite")
    assert search.document_count == 30
    results = search.search("储能 补贴 安全规范", max_results=5)
    assert len(results) == 5 and results[0].title.startswith("储能")
    reopened = LocalSearch(tmp_path / "big", tmp_path / "big.sqlite")
    assert reopened.document_count == 30
    assert [r.id for r in reopened.search("储能 补贴 安全规范", max_results=5)] == [r.id for r in results]


def test_relative_root_with_dot_dot(corpus: Path, index_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus / "tech")
    search = LocalSearch(Path("..") / ".." / "sources", index_path)
    assert search.document_count == 5
    assert Path(search.search("智算中心 利用率")[0].path) == (corpus / "tech" / "compute.md").resolve()


def test_index_path_that_cannot_be_opened(corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    with pytest.raises(SearchError) as info:
        LocalSearch(corpus, tmp_path / "adir")
    assert info.value.kind == "config" and "cannot open search index" in str(info.value)


def test_document_about_the_query_beats_a_stray_passage() -> None:
    from pipeline.search.local import _rank_documents

    terms = ["h200", "出口", "管制"]
    rows = [  # (path, ord, text, tokens, title tokens, bm25) best-first, as the SQL returns them
        ("stray.md", 0, "stray", "出口 管制", "", -5.6),
        ("focus.md", 3, "focus-3", "h200 出口", "", -4.7),
        ("focus.md", 0, "focus-0", "h200 出口", "", -3.8),
        ("focus.md", 1, "focus-1", "h200", "", -1.7),
        ("other.md", 0, "other", "出口", "", -2.4),
    ]
    ranked = _rank_documents(rows, terms)
    assert [r[1] for r in ranked] == ["focus.md", "stray.md", "other.md"]
    assert ranked[0][2] == "focus-3"
    # Coord: covering every query term outweighs a slightly better single passage.
    rows = [("partial.md", 0, "p", "h200 出口", "", -5.0), ("full.md", 0, "f", "h200 出口", "管制", -4.0)]
    assert [r[1] for r in _rank_documents(rows, terms)] == ["full.md", "partial.md"]
