"""Unit tests for pipeline.llm.validate: schema rewriting and reply parsing."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from pipeline.kinds.research.slots import Advice, Findings, Outlook, Plan, Query
from pipeline.llm.validate import json_schema_for, parse_reply


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.parametrize("model", [Plan, Query, Findings, Outlook, Advice])
def test_schema_is_inlined_and_untitled(model):
    schema = json_schema_for(model)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    for node in _walk(schema):
        assert not isinstance(node.get("title"), str), node  # no title *keyword* anywhere
        assert "cues" not in node
    assert schema["type"] == "object"


def test_nested_model_is_inlined_and_keeps_a_property_called_title():
    schema = json_schema_for(Findings)
    groups = schema["properties"]["groups"]
    assert groups["minItems"] == 1 and groups["maxItems"] == 5
    group = groups["items"]
    assert group["type"] == "object"
    assert set(group["properties"]) == {"title", "points"}  # the *field* named title survives
    assert group["properties"]["title"]["type"] == "string"
    assert group["properties"]["points"]["maxItems"] == 8
    assert group["required"] == ["title", "points"]


def test_schema_keeps_length_bounds():
    schema = json_schema_for(Query)
    assert schema["properties"]["query"]["minLength"] == 2
    assert schema["properties"]["query"]["maxLength"] == 80


def test_recursive_model_is_refused():
    class Node(BaseModel):
        name: str
        children: list[Node] = []

    Node.model_rebuild()
    with pytest.raises(ValueError, match="recursive"):
        json_schema_for(Node)


def test_parse_valid_reply():
    value, repaired, error = parse_reply('{"subtopics": ["算力需求", "推理成本"]}', Plan)
    assert error is None and repaired is False
    assert value == Plan(subtopics=["算力需求", "推理成本"])


@pytest.mark.parametrize(
    "raw",
    [
        '{"subtopics": ["算力需求", "推理成本"',  # truncated by num_predict
        '```json\n{"subtopics": ["算力需求", "推理成本"]}\n```',  # code fence
        "{'subtopics': ['算力需求', '推理成本'],}",  # single quotes, trailing comma
    ],
)
def test_parse_repairs_malformed_json(raw):
    value, repaired, error = parse_reply(raw, Plan)
    assert error is None, error
    assert repaired is True
    assert value is not None and value.subtopics[:2] == ["算力需求", "推理成本"]


def test_validation_error_names_the_field():
    value, repaired, error = parse_reply('{"subtopics": []}', Plan)
    assert value is None and repaired is False
    assert error is not None and error.startswith("subtopics:")
    assert "\n" not in error and len(error) < 200


def test_nested_validation_error_has_a_path():
    value, _, error = parse_reply('{"groups": [{"title": "算力", "points": []}]}', Findings)
    assert value is None
    assert error is not None and error.startswith("groups.0.points:")


def test_missing_field_error():
    _, _, error = parse_reply('{"wrong": 1}', Plan)
    assert error is not None and "subtopics" in error


def test_unrepairable_reply():
    value, repaired, error = parse_reply("I cannot answer that.", Plan)
    assert value is None and repaired is False
    assert error is not None and "JSON" in error


@pytest.mark.parametrize("raw", ["", "   ", "[1, 2]", '"只是一个字符串"'])
def test_non_object_replies(raw):
    value, _, error = parse_reply(raw, Plan)
    assert value is None and error


def test_english_reply_is_rejected():
    value, repaired, error = parse_reply('{"subtopics": ["AI compute demand", "inference cost"]}', Plan)
    assert value is None and repaired is False
    assert error == "回答不是中文 (cjk ratio 0.00)"


def test_chinese_ratio_threshold_and_switch():
    mixed = '{"subtopics": ["GPU 与 HBM 供给紧张的影响"]}'  # CJK share of the letters: 8 of 14
    assert parse_reply(mixed, Plan)[2] is None
    assert parse_reply(mixed, Plan, min_cjk=0.7)[2] == "回答不是中文 (cjk ratio 0.57)"
    english = '{"subtopics": ["compute"]}'
    assert parse_reply(english, Plan, min_cjk=0)[0] == Plan(subtopics=["compute"])


def test_chinese_check_uses_all_nested_strings():
    raw = json.dumps({"groups": [{"title": "Compute", "points": ["算力需求持续增长，推理成为新的重点"]}]})
    value, _, error = parse_reply(raw, Findings)
    assert error is None and value is not None


def test_repaired_but_english_reports_repaired():
    value, repaired, error = parse_reply('{"subtopics": ["compute demand"', Plan)
    assert value is None and repaired is True
    assert error is not None and error.startswith("回答不是中文")
