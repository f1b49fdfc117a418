"""Fixtures for publishing and diff: `yanbao` as a subprocess in tmp_path, and a hostile source corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"



@pytest.fixture
def hostile_corpus(tmp_path: Path) -> Path:
    """Source documents whose titles, URLs and sentences carry hostile markup, all about 数据中心算力."""
    from hostile_html import HOSTILE

    root = tmp_path / "hostile-sources"
    root.mkdir()
    urls = ["javascript:alert(1)", "data:text/html;base64,PHNjcmlwdD4=", "https://example.com/ok\"><script>x</script>",
            "https://example.com/a(b)[c]<d>", "vbscript:msgbox(1)"]
    for i, bad in enumerate(HOSTILE):
        meta = {"title": f"数据中心算力{bad}", "url": urls[i % len(urls)], "publisher": bad, "date": "2025-06-01"}
        body = (
            f"数据中心算力投资在2025年达到{3000 + i}亿美元，同比增长{20 + i}%。{bad}\n"
            f"数据中心算力需求持续增长，液冷渗透率约为{30 + i}%。\n"
        )
        text = "---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body
        (root / f"doc-{i:02d}.md").write_text(text, encoding="utf-8")
    return root
