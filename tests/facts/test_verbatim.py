"""A claim whose sentence quotes a stored source sentence verifies, even without a known name; a changed
digit in the same quoted sentence does not."""

from pipeline.facts.check import check_text
from pipeline.facts.store import FactStore

SOURCE = "调查显示，2024年有78%的受访企业表示已在业务中使用生成式工具，而2023年这一比例为55%。"


def store_with(text: str) -> FactStore:
    store = FactStore(":memory:")
    store.import_text(text, title="调查", url="https://example.com/survey")
    return store


def statuses(report_text: str, store: FactStore) -> list[tuple[str, str]]:
    return [(c.text, c.status) for c in check_text(report_text, store).claims]


def test_quoted_sentence_verifies_with_citation_and_bullet():
    store = store_with(SOURCE)
    assert statuses(f"- {SOURCE}[2]", store) == [("78%", "verified"), ("55%", "verified")]


def test_changed_digit_in_a_quoted_sentence_does_not_verify():
    store = store_with(SOURCE)
    got = dict(statuses(SOURCE.replace("78%", "87%"), store))
    assert got["87%"] != "verified"
    assert got["55%"] != "contradicted"  # the edited sentence is no longer a quote: no verdict either way


def test_a_short_fragment_is_not_a_quote():
    store = store_with("占比为55%。")
    assert statuses("占比为55%。", store) == [("55%", "unsupported")]


def test_a_short_label_before_a_quote_is_allowed():
    store = store_with(SOURCE)
    assert statuses(f"- 基准：{SOURCE}[1]", store) == [("78%", "verified"), ("55%", "verified")]
