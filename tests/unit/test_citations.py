from pipeline.kinds.citations import keep_valid, map_strings, number_sources, renumber
from pipeline.kinds.research.slots import Findings
from pipeline.models import Group, SearchResult, WorkerResult


def src(n: int) -> SearchResult:
    return SearchResult(title=f"t{n}", url=f"https://e.com/{n}")


def test_keep_valid_drops_unknown_numbers():
    assert keep_valid("甲[1]乙[7]丙[2]", {1, 2}) == ("甲[1]乙丙[2]", 1)


def test_global_numbering_follows_worker_order_not_completion_order():
    w2 = WorkerResult(index=2, subtopic="b", sources=[src(3), src(1)])
    w1 = WorkerResult(index=1, subtopic="a", sources=[src(1), src(2)])
    refs, maps = number_sources([w2, w1])
    assert [r.url for r in refs] == ["https://e.com/1", "https://e.com/2", "https://e.com/3"]
    assert maps == [{1: 1, 2: 2}, {1: 3, 2: 1}]
    assert renumber("x[1] y[2] z[9]", maps[1]) == "x[3] y[1] z"


def test_map_strings_reaches_nested_slots():
    f = Findings(groups=[Group(title="算力[2]", points=["需求上升[1]", "价格下降[3]"])])
    out = map_strings(f, lambda s: renumber(s, {1: 5, 2: 6}))
    assert out.groups[0].title == "算力[6]" and out.groups[0].points == ["需求上升[5]", "价格下降"]


def test_broken_and_grouped_citation_marks_are_made_whole_or_removed():
    from pipeline.kinds.citations import clean_marks

    assert clean_marks("增长77%[1,3]。") == "增长77%[1][3]。"
    assert clean_marks("见[1、2]与[2-4]") == "见[1][2]与[2][3][4]"
    assert clean_marks("资本开支增长［2］") == "资本开支增长[2]"
    assert clean_marks("行业仍面临电力约束[199") == "行业仍面临电力约束"  # a reply cut inside its mark
    assert clean_marks("结尾[") == "结尾" and clean_marks("空的[]标记") == "空的标记"
    assert clean_marks("[注]与[A]不是引用") == "[注]与[A]不是引用"
    assert keep_valid("增长[1,7]，行业[19", {1}) == ("增长[1]，行业", 1)
