import os
import stat
from pathlib import Path

import pytest

from pipeline.run.render import md_inline, md_line, md_text, md_url, slugify, write_atomic


@pytest.mark.parametrize(
    ("topic", "slug"),
    [
        ("人工智能发展趋势", "人工智能发展趋势"),
        ("AI 芯片：H20 与 H200", "ai-芯片-h20-与-h200"),
        ("../../etc/passwd", "etc-passwd"),
        ("/abs/path", "abs-path"),
        ("a\x00b", "a-b"),
        ("...", "report"),
        ("", "report"),
    ],
)
def test_slugify(topic, slug):
    assert slugify(topic) == slug


def test_slug_is_bounded_and_never_leaves_the_folder(tmp_path: Path):
    for topic in ["x" * 300, "../" * 50, "\\..\\..\\x", "名" * 300, "a/../../b"]:
        s = slugify(topic)
        assert len(s) <= 60 and "/" not in s and "\\" not in s and ".." not in s
        assert (tmp_path / f"{s}.md").resolve().parent == tmp_path.resolve()


def test_untrusted_text_is_inert_markdown():
    assert md_inline("## 最终综合报告") == "\\#\\# 最终综合报告"
    assert md_inline("[点我](javascript:alert(1))") == "\\[点我\\](javascript:alert(1))"
    assert md_inline("<script>x</script>\n# h") == "\\<script\\>x\\</script\\> \\# h"
    assert md_inline("a|b") == "a\\|b"
    assert md_url("javascript:alert(1)") == "（无效链接）"
    assert md_url("https://a.com/x (y)") == "https://a.com/x%20%28y%29"


def test_model_text_cannot_open_structure():
    out = md_text("第一段。\n## 最终综合报告\n> 引用\n<img src=x onerror=alert(1)>")
    assert "\n## " not in out and not out.startswith("#")
    assert "<img" not in out and "&lt;img" in out
    assert "\n>" not in out
    assert md_line("一\n二") == "一 二"


def test_write_atomic_replaces_whole_or_not_at_all(tmp_path: Path, monkeypatch):
    target = tmp_path / "r.md"
    write_atomic(target, "旧内容")
    assert target.read_text(encoding="utf-8") == "旧内容"

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, "新内容")
    assert target.read_text(encoding="utf-8") == "旧内容"
    assert [p.name for p in tmp_path.iterdir()] == ["r.md"]  # no temp file left behind


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_write_atomic_mode_is_0666_minus_the_umask(tmp_path: Path, umask, expected):
    target = tmp_path / "r.md"
    target.write_text("旧", encoding="utf-8")
    os.chmod(target, 0o600)  # written by an older version: replaced with the right mode
    old = os.umask(umask)
    try:
        write_atomic(target, "新")
        write_atomic(tmp_path / "new.html", "新")
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == expected
    assert stat.S_IMODE((tmp_path / "new.html").stat().st_mode) == expected
