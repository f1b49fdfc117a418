"""The facts store on PostgreSQL: the same imports, the same checks as on SQLite, and `yanbao facts` /
`yanbao check` reach it through the one `store` setting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from clikit import PROJECT_SOURCES, ROOT, clean_env, yanbao_cmd
from storekit import store_env

from pipeline.facts.check import check_text
from pipeline.facts.store import FactStore

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")

REPORT = PROJECT_SOURCES / "37-ai-trends-investment-capex.md"


def test_facts_store_imports_and_checks_alike_on_both_engines(tmp_path: Path, postgres_url: str) -> None:
    lite = FactStore(tmp_path / "facts.db")
    shared = FactStore(postgres_url)
    a = lite.import_path(PROJECT_SOURCES)
    b = shared.import_path(PROJECT_SOURCES)
    assert (a.imported, a.facts) == (b.imported, b.facts) and b.facts > 1000
    assert lite.count() == shared.count()
    assert FactStore(postgres_url).import_path(PROJECT_SOURCES).unchanged == b.imported  # re-import: a no-op
    text = REPORT.read_text(encoding="utf-8")
    wrong = text.replace("1250亿美元", "1520亿美元")  # a planted one-digit error
    for body in (text, wrong):
        assert check_text(body, lite).to_json() == check_text(body, shared).to_json()
    assert check_text(wrong, shared).summary["contradicted"] >= 1
    assert [f.text for f in lite.search("甲骨文")] == [f.text for f in shared.search("甲骨文")]
    assert [f.text for f in lite.search("1250亿美元")] == [f.text for f in shared.search("1250亿美元")]
    assert [(s.title, s.facts) for s in lite.list_sources()] == [(s.title, s.facts) for s in shared.list_sources()]


def test_failed_import_leaves_the_shared_store_unchanged(tmp_path: Path, postgres_url: str) -> None:
    from pipeline.facts.store import FactsError

    store = FactStore(postgres_url)
    store.import_path(PROJECT_SOURCES / "37-ai-trends-investment-capex.md")
    before = store.count()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.md").write_text("# 甲\n\n营收100亿元。\n", encoding="utf-8")
    (bad / "facts.yaml").write_text("facts:\n  - entity: 甲\n    value: 一百\n", encoding="utf-8")
    with pytest.raises(FactsError):
        store.import_path(bad)
    assert store.count() == before


def test_facts_cli_uses_the_store_setting(tmp_path: Path, postgres_url: str) -> None:
    env = store_env(postgres_url)
    imp = subprocess.run(yanbao_cmd("facts", "import", str(REPORT)), env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert imp.returncode == 0, imp.stderr
    assert f"store {postgres_url}:" in imp.stdout and not (tmp_path / "outputs").exists()
    listed = subprocess.run(yanbao_cmd("facts", "list", "--json"), env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert [s["facts"] for s in json.loads(listed.stdout)] == [FactStore(postgres_url).count()[1]]
    checked = subprocess.run(yanbao_cmd("check", str(REPORT), "--json"), env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
    # the same import and check against a SQLite file given with --facts
    db = str(tmp_path / "f.db")
    for args in (("facts", "import", str(REPORT), "--facts", db), ("check", str(REPORT), "--json", "--facts", db)):
        by_file = subprocess.run(yanbao_cmd(*args), env=clean_env(), cwd=ROOT, capture_output=True, text=True,
                                 timeout=120)
        assert by_file.returncode == 0, by_file.stderr
    assert checked.returncode == 0, checked.stderr
    assert json.loads(checked.stdout) == json.loads(by_file.stdout)
    assert json.loads(checked.stdout)["summary"]["verified"] > 0


def test_the_store_url_is_checked_and_never_shown_with_its_password(tmp_path: Path) -> None:
    env = clean_env()
    env["YANBAO_STORE"] = "postgresql://editor:s3cret@db.example:5432/yanbao"
    shown = subprocess.run(yanbao_cmd("config", "show"), env=env, cwd=tmp_path, capture_output=True, text=True)
    assert shown.returncode == 0 and "s3cret" not in shown.stdout
    assert "postgresql://editor:***@db.example:5432/yanbao" in shown.stdout
    env["YANBAO_STORE"] = "mysql://x/y"
    bad = subprocess.run(yanbao_cmd("runs", "list"), env=env, cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("yanbao: invalid store") and bad.stderr.count("\n") == 1


def test_an_unreachable_store_is_one_line(tmp_path: Path, postgres_server) -> None:
    from services import free_port

    url = f"postgresql://yanbao:pw@127.0.0.1:{free_port()}/none"  # nothing listens there
    res = subprocess.run(yanbao_cmd("runs", "list"), env=store_env(url), cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1 and res.stderr.count("\n") == 1, res.stderr
    assert res.stderr.startswith("yanbao: the run store at postgresql://yanbao:***@127.0.0.1:") and "pw" not in res.stderr
