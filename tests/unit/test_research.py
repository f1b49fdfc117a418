from pipeline.kinds.research.worker import derive_query, normalize_query
from pipeline.models import SearchResult


def test_derived_query_is_new_and_uses_uncovered_terms():
    sources = [SearchResult(title="液冷数据中心", url="https://e.com/1", content="液冷技术在数据中心快速普及，液冷机柜功率密度提升。")]
    used = ["数据中心 电力"]
    q = derive_query("数据中心", "数据中心用电增长。", sources, used)
    assert normalize_query(q) not in {normalize_query(u) for u in used}
    assert "液冷" in q


def test_derived_query_without_sources_still_differs():
    used = ["算力", "算力 最新数据", "算力 市场规模"]
    q = derive_query("算力", "", [], used)
    assert normalize_query(q) not in {normalize_query(u) for u in used}
