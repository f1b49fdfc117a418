"""The CLI contract: `yanbao check` (JSON, table, --strict, exit codes) and `yanbao facts ...`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app
from pipeline.facts.store import FactStore

REPO = Path(__file__).resolve().parents[2]
YANBAO = Path(sys.executable).parent / "yanbao"

SOURCE = "---\ntitle: 甲骨文财报\nurl: https://example.com/oracle\n---\n甲骨文（Oracle）截至2025年8月31日的剩余履约义务（RPO）为4550亿美元，同比增长359%。\n"
CURATED = "facts:\n  - entity: 字节跳动\n    metric: AI芯片预算\n    value: 1000\n    unit: 亿元人民币\n    source: https://example.com/b\n"
REPORT = (
    "---\ntitle: 测试报告\n---\n# 主管架构研究报告\n\n**最大循环次数**: 3\n\n"
    "甲骨文的RPO约4550亿美元[1]，同比增长395%。字节跳动的AI芯片预算为1000亿元。某港口贸易额为1234亿美元。\n"
)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "oracle.md").write_text(SOURCE, encoding="utf-8")
    (tmp_path / "src" / "facts.yaml").write_text(CURATED, encoding="utf-8")
    (tmp_path / "report.md").write_text(REPORT, encoding="utf-8")
    return tmp_path


def run(*args: str | Path):
    return CliRunner().invoke(app, [str(a) for a in args])


def db_state(db: Path) -> tuple:
    if not db.exists():
        return None
    with FactStore(db) as s:
        return s.count(), [(x.origin, x.facts) for x in s.list_sources()]


def test_check_json_contract(work: Path) -> None:
    r = run("check", work / "report.md", "--sources", work / "src", "--facts", work / "f.db", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert set(data) == {"claims", "summary"}
    text = (work / "report.md").read_text(encoding="utf-8")
    for c in data["claims"]:
        assert set(c) == {"text", "start", "end", "value", "value_hi", "unit", "approx", "status", "evidence"}
        assert text[c["start"] : c["end"]] == c["text"]
    assert [(c["text"], c["status"]) for c in data["claims"]] == [
        ("约4550亿美元", "verified"),
        ("395%", "contradicted"),
        ("1000亿元", "verified"),
        ("1234亿美元", "unsupported"),
    ]
    assert data["summary"] == {"verified": 2, "contradicted": 1, "unsupported": 1}
    ev = data["claims"][0]["evidence"][0]
    assert ev["source"] == "甲骨文财报" and "4550亿美元" in ev["quote"] and ev["value"] == 4.55e11


def test_check_strict_exit_codes(work: Path) -> None:
    r = run("check", work / "report.md", "--sources", work / "src", "--facts", work / "f.db", "--json", "--strict")
    assert r.exit_code == 1
    (work / "ok.md").write_text("甲骨文的RPO约4550亿美元。\n", encoding="utf-8")
    r = run("check", work / "ok.md", "--facts", work / "f.db", "--strict")
    assert r.exit_code == 0, r.output


def test_check_table_output(work: Path) -> None:
    r = run("check", work / "report.md", "--sources", work / "src", "--facts", work / "f.db")
    assert r.exit_code == 0
    assert "已核实" in r.stdout and "存在出入" in r.stdout and "未找到来源" in r.stdout
    assert "共 4 处数值：已核实 2，存在出入 1，未找到来源 1。" in r.stdout


def test_check_gb18030_report_is_decoded(work: Path) -> None:
    text = "甲骨文的RPO约4550亿美元，同比增长359%。\n"
    (work / "gbk.md").write_bytes(text.encode("gb18030"))
    r = run("check", work / "gbk.md", "--sources", work / "src", "--facts", work / "f.db", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["summary"] == {"verified": 2, "contradicted": 0, "unsupported": 0}
    decoded = (work / "gbk.md").read_bytes().decode("gb18030")
    assert all(decoded[c["start"] : c["end"]] == c["text"] for c in data["claims"])


def make_bad(work: Path, kind: str) -> tuple[Path, Path, str]:
    """(report, sources, expected stderr pattern) for one kind of bad input."""
    report, src = work / "report.md", work / "src"
    if kind == "empty":
        report = work / "empty.md"
        report.write_text("---\ntitle: x\n---\n\n  \n", encoding="utf-8")
        return report, src, r"empty\.md: empty report"
    if kind == "binary":
        report = work / "binary.md"
        report.write_bytes(b"\x00\x01\x02PK\x03\x04" * 50)
        return report, src, r"binary\.md: binary file"
    if kind == "huge":
        report = work / "huge.md"
        with report.open("wb") as fh:
            fh.truncate(50 * 1024 * 1024)
        return report, src, r"huge\.md: 50\.0 MiB is over the 20 MiB limit"
    if kind == "front_matter":
        report = work / "fm.md"
        report.write_text("---\ntitle: [oops\n---\n营收100亿元。\n", encoding="utf-8")
        return report, src, r"fm\.md:\d+: malformed front matter"
    if kind == "yaml":
        (src / "facts.yaml").write_text(CURATED.replace("value: 1000", "value: 一千"), encoding="utf-8")
        return report, src, r"facts\.yaml:4: facts\[0\]\.value: expected a number"
    if kind == "missing":
        return work / "nope.md", src, r"nope\.md: cannot read"
    if kind == "no_sources":
        return report, work / "nosuch", r"nosuch: no such sources folder"
    if kind == "binary_source":
        (src / "z.md").write_bytes(b"\x00" * 64)
        return report, src, r"z\.md: binary file"
    raise AssertionError(kind)


BAD_KINDS = ["empty", "binary", "huge", "front_matter", "yaml", "missing", "no_sources", "binary_source"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_input_one_line_exit_2_store_unchanged(work: Path, kind: str) -> None:
    db = work / "f.db"
    FactStore(db).close()
    run("facts", "import", work / "src", "--facts", db)  # a store with content, before the bad call
    before = db_state(db)
    report, src, pattern = make_bad(work, kind)
    r = run("check", report, "--sources", src, "--facts", db, "--json")
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert db_state(db) == before


def test_facts_import_list_search(work: Path) -> None:
    db = work / "f.db"
    r = run("facts", "import", work / "src", "--facts", db)
    assert r.exit_code == 0, r.output
    assert "imported 2 document(s), 0 unchanged, 3 fact(s)" in r.stdout
    r = run("facts", "import", work / "src", "--facts", db)
    assert "imported 0 document(s), 2 unchanged, 0 fact(s)" in r.stdout
    r = run("facts", "list", "--facts", db, "--json")
    rows = json.loads(r.stdout)
    assert [(x["title"], x["facts"]) for x in rows] == [("甲骨文财报", 2), ("", 1)]
    r = run("facts", "list", "--facts", db)
    assert "甲骨文财报" in r.stdout
    r = run("facts", "search", "RPO", "--facts", db, "--json")
    assert [x["text"] for x in json.loads(r.stdout)] == ["4550亿美元", "359%"]
    r = run("facts", "search", "1000亿元", "--facts", db)
    assert r.exit_code == 0 and "字节跳动" in r.stdout


def test_facts_import_bad_file_exit_2(work: Path) -> None:
    (work / "bad.md").write_bytes(b"\x00\x00")
    r = run("facts", "import", work / "src", work / "bad.md", "--facts", work / "f.db")
    assert r.exit_code == 2 and "bad.md: binary file" in r.stderr
    assert db_state(work / "f.db") == ((0, 0), [])  # the good folder before it was rolled back too


def test_commands_module_imports_only_typer() -> None:
    code = (
        "import sys; import pipeline.cli.facts; "
        "heavy = [m for m in ('jieba', 'rich', 'yaml', 'sqlite3', 'pipeline.facts.store') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.skipif(not YANBAO.exists(), reason="console script not installed in this environment")
def test_real_subprocess(work: Path) -> None:
    args = [str(YANBAO), "check", "report.md", "--sources", "src", "--facts", "out/f.db", "--json", "--strict"]
    out = subprocess.run(args, capture_output=True, text=True, cwd=work, timeout=60)
    assert out.returncode == 1, out.stderr
    data = json.loads(out.stdout)
    assert data["summary"] == {"verified": 2, "contradicted": 1, "unsupported": 1}
    bad = subprocess.run(
        [str(YANBAO), "check", "missing.md", "--facts", "out/f.db"], capture_output=True, text=True, cwd=work, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == ["yanbao: missing.md: cannot read: No such file or directory"]
