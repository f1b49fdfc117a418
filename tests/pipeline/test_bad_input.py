"""Bad input: one clear line on stderr, a non-zero exit, and nothing written to the output folder."""

from __future__ import annotations

import socket

import pytest
from clikit import assert_one_line_error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def no_reports(tmp_path) -> bool:
    out = tmp_path / "out"
    return not out.exists() or not any(p.suffix in (".md", ".json") for p in out.iterdir())


@pytest.mark.parametrize(
    ("topic", "needle"),
    [
        ("", "empty"),
        ("   \t ", "empty"),
        ("人" * 501, "501 characters"),
        ("人工智能\x07趋势", "control characters"),
    ],
)
def test_bad_topics(yanbao, corpus, tmp_path, topic, needle):
    res = yanbao("run", topic, "--llm", "extractive", "--search", "local", "--sources", str(corpus), "--out", "out")
    assert_one_line_error(res, 2, needle)
    assert no_reports(tmp_path)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--kind", "weekly"], "kind"),
        (["--max-loops", "0"], "max-loops"),
        (["--max-loops", "11"], "max-loops"),
        (["--max-loops", "three"], "max-loops"),
        (["--search", "bing"], "search"),
        (["--llm", "gpt"], "llm"),
    ],
)
def test_bad_flags(yanbao, corpus, tmp_path, flags, needle):
    res = yanbao("run", "人工智能", "--sources", str(corpus), "--out", "out", *flags)
    assert_one_line_error(res, 2, needle)
    assert no_reports(tmp_path)


def test_unreachable_ollama_host(yanbao, corpus, tmp_path):
    host = f"http://127.0.0.1:{free_port()}"
    res = yanbao("run", "人工智能", "--llm", "ollama", "--ollama-host", host, "--search", "local",
                 "--sources", str(corpus), "--out", "out")
    assert_one_line_error(res, 1, "cannot reach Ollama", host)
    assert no_reports(tmp_path)


def test_missing_model_says_how_to_pull(yanbao, fake_ollama, corpus, tmp_path):
    res = yanbao("run", "人工智能", "--llm", "ollama", "--ollama-host", fake_ollama.url, "--model", "llama3:70b",
                 "--search", "local", "--sources", str(corpus), "--out", "out")
    assert_one_line_error(res, 1, "ollama pull llama3:70b")
    assert no_reports(tmp_path)


def test_missing_sources_folder(yanbao, tmp_path):
    res = yanbao("run", "人工智能", "--llm", "extractive", "--search", "local", "--sources", "nope", "--out", "out")
    assert_one_line_error(res, 2, "sources folder not found", "nope")
    assert no_reports(tmp_path)


def test_sources_path_is_a_file(yanbao, tmp_path):
    (tmp_path / "notes.md").write_text("# 笔记\n", encoding="utf-8")
    res = yanbao("run", "人工智能", "--llm", "extractive", "--search", "local", "--sources", "notes.md",
                 "--out", "out")
    assert_one_line_error(res, 2, "not a folder")
    assert no_reports(tmp_path)


def test_empty_sources_folder(yanbao, tmp_path):
    (tmp_path / "empty").mkdir()
    res = yanbao("run", "人工智能", "--llm", "extractive", "--search", "local", "--sources", "empty", "--out", "out")
    assert_one_line_error(res, 2, "no usable documents")
    assert no_reports(tmp_path)


def test_unwritable_output_folder(yanbao, corpus, tmp_path):
    (tmp_path / "out").write_text("a file where the folder should be", encoding="utf-8")
    res = yanbao("run", "人工智能", "--llm", "extractive", "--search", "local", "--sources", str(corpus),
                 "--out", "out/reports")
    assert_one_line_error(res, 2, "output folder")


def test_malformed_config_file(yanbao, tmp_path):
    (tmp_path / "yanbao.toml").write_text("breadth = [oops\n", encoding="utf-8")
    res = yanbao("config", "show")
    assert_one_line_error(res, 2, "yanbao.toml", "invalid TOML")


def test_gb18030_source_is_read_and_binary_file_skipped_with_a_warning(yanbao, corpus, tmp_path):
    doc = "---\ntitle: 液冷机柜出货\nurl: https://example.com/liquid\n---\n液冷机柜出货量在2025年增长了40%，液冷成为数据中心标配。\n"
    (corpus / "gbk.md").write_bytes(doc.encode("gb18030"))
    (corpus / "blob.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    res = yanbao("run", "液冷机柜出货", "--llm", "extractive", "--search", "local", "--sources", str(corpus),
                 "--out", "out", "--quiet", "--breadth", "1", "--max-loops", "1")
    assert res.code == 0, res.stderr
    warnings = [line for line in res.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "blob.md" in warnings[0]
    assert "https://example.com/liquid" in res.report.read_text(encoding="utf-8")
    assert "液冷机柜出货量在2025年增长了40%" in res.report.read_text(encoding="utf-8")
