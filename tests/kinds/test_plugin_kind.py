"""A report kind is one folder registered in one place: the `weekly` kind in tests/fixtures/kinds/weekly/
(its slot model, extractive handler, compose and view, template and prompt) reaches yanbao through a
`yanbao.kinds` entry point, with no file under pipeline/ edited, and runs end to end offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from clikit import FIXTURE_CORPUS, ROOT, Result, assert_one_line_error, clean_env, yanbao_cmd

FIXTURE_KINDS = ROOT / "tests" / "fixtures" / "kinds"


def plugin_path(tmp_path: Path, value: str = "weekly:KIND") -> Path:
    """A folder that makes the fixture an installed package as importlib.metadata sees one: a
    `*.dist-info` with an entry point in the group `yanbao.kinds` (what `pip install` of a plugin
    whose pyproject declares `[project.entry-points."yanbao.kinds"] weekly = "weekly:KIND"` writes)."""
    site = tmp_path / "site"
    info = site / "yanbao_weekly-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: yanbao-weekly\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[yanbao.kinds]\nweekly = {value}\n", encoding="utf-8")
    return site


def run_with_plugin(site: Path, *args: str, cwd: Path) -> Result:
    env = clean_env()
    env["PYTHONPATH"] = f"{ROOT}:{FIXTURE_KINDS}:{site}"
    proc = subprocess.run(yanbao_cmd(*args), cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def test_a_kind_from_a_fixture_folder_runs_end_to_end(tmp_path):
    site = plugin_path(tmp_path)
    help_text = run_with_plugin(site, "run", "--help", cwd=tmp_path)
    assert "weekly" in help_text.stdout, help_text.stdout  # --kind's choices come from the registry

    res = run_with_plugin(site, "run", "--kind", "weekly", "数据中心电力", "--llm", "extractive", "--search", "local",
                          "--sources", str(FIXTURE_CORPUS), "--out", "out", "-q", cwd=tmp_path)
    assert res.code == 0, res.stderr
    report = res.report
    assert report.parent == (tmp_path / "out").resolve()
    assert report.name.endswith("-weekly-数据中心电力.md")  # the default file stem: <day>-<kind>-<slug>
    text = res.text
    assert text.startswith("# 数据中心电力：每周要点（")  # the kind's own template
    points = [line for line in text.split("## 本周要点", 1)[1].split("## 参考资料", 1)[0].splitlines()
              if line.startswith("- ")]
    assert 1 <= len(points) <= 4 and all("[" in p for p in points), text  # filled by the kind's handler, cited
    assert "## 数据核验" in text  # the runner's facts check ran on it, as on any kind
    manifest = res.manifest
    assert manifest["kind"] == "weekly" and manifest["topic"] == "数据中心电力"
    assert manifest["title"] == "数据中心电力：每周要点"  # the kind's own manifest fields
    assert manifest["checks"]["verified"] > 0  # its figures were checked against the sources it read
    assert manifest["config"]["provider"] == "extractive"
    assert not any(d["step"].startswith("weekly.points") for d in manifest["degraded"]), manifest["degraded"]
    check = json.loads(report.with_name(report.name[:-3] + ".check.json").read_text(encoding="utf-8"))
    assert check["summary"] == manifest["checks"]
    assert f"已核实 {manifest['checks']['verified']}" in text

    runs = subprocess.run(yanbao_cmd("runs", "list", "--out", "out"), cwd=tmp_path, env=clean_env(),
                          capture_output=True, text=True, timeout=60)
    assert manifest["run_id"] in runs.stdout and "done" in runs.stdout  # recorded in the run store


def test_without_the_plugin_the_kind_is_unknown_in_one_line(tmp_path):
    """An unknown kind: one line naming it and every registered kind, exit 2, nothing written."""
    res = run_with_plugin(tmp_path / "nowhere", "run", "--kind", "weekly", "数据中心电力", "--llm", "extractive",
                          "--search", "local", "--out", "out", cwd=tmp_path)
    assert_one_line_error(res, 2, "'weekly'", "'research'", "'digest'", "'commentary'")
    assert not (tmp_path / "out").exists()
    env = clean_env({"YANBAO_KIND": "weekly"})
    proc = subprocess.run(yanbao_cmd("run", "数据中心电力", "--out", "out"), cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert_one_line_error(Result(proc.returncode, proc.stdout, proc.stderr), 2, "invalid kind = 'weekly'",
                          "'research', 'digest' or 'commentary'")


def test_a_broken_plugin_is_one_line_naming_it(tmp_path):
    site = plugin_path(tmp_path, "weekly_missing_module:KIND")
    res = run_with_plugin(site, "run", "--kind", "research", "数据中心电力", "--llm", "extractive", "--search", "local",
                          "--out", "out", cwd=tmp_path)
    assert_one_line_error(res, 2, "report kind 'weekly'", "weekly_missing_module:KIND", "cannot be loaded")


def test_register_adds_a_kind_in_process(monkeypatch):
    """`pipeline.kinds.register` (tests, programs embedding yanbao): the kind, its template folder and
    its prompt folder join the registry's lists; a second kind of the same name is refused."""
    from pipeline import kinds
    from pipeline.kinds.folders import prompt_dirs, template_dirs
    from pipeline.kinds.prompting import slot_prompts

    monkeypatch.syspath_prepend(str(FIXTURE_KINDS))
    weekly = __import__("weekly").KIND
    if "weekly" not in kinds.names():
        kinds.register(weekly)
    try:
        assert kinds.get("weekly") is weekly and "weekly" in kinds.names()
        assert weekly.templates in template_dirs() and weekly.prompts in prompt_dirs()
        assert "weekly.points" in slot_prompts() and "analysis.findings" in slot_prompts()
        with pytest.raises(kinds.KindError, match="registered twice"):
            kinds.register(type(weekly)(name="weekly", help="", compose=weekly.compose, template="x.md.j2"))
    finally:
        kinds.unregister("weekly")
    assert "weekly" not in kinds.names()
    with pytest.raises(kinds.KindError, match="choose one of: research, digest, commentary"):
        kinds.get("weekly")


def test_builtin_kinds_declare_what_the_rooms_used_to_hard_code():
    from pipeline import kinds

    research, digest, commentary = (kinds.get(n) for n in ("research", "digest", "commentary"))
    assert kinds.file_stem(research, "2026-01-02", "AI 趋势") == "2026-01-02-ai-趋势"
    assert kinds.file_stem(digest, "2026-01-02", "H20") == "2026-01-02-digest-h20"
    assert (research.batch, digest.batch, commentary.batch) == (False, True, True)
    assert kinds.run_batch_names() == ("commentary",)  # `yanbao digest` takes the digest's several items
    assert [k.template for k in (research, digest, commentary)] == ["research.md.j2", "digest.md.j2", "commentary.md.j2"]


def test_declaring_the_kinds_imports_no_kind_module(tmp_path):
    """`yanbao run --help` lists the kinds without importing their modules (pydantic, jieba …)."""
    code = ("import sys; from pipeline import kinds; kinds.names();"
            "print(sorted(m for m in sys.modules if m.endswith(('.kind', '.extractive', '.slots')) or m == 'jieba'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
