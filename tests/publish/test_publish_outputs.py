"""What a run leaves behind: every file it writes on stdout (the report last), files readable by the
group (0666 minus the umask), an earlier report of the same name kept (`-2`, `-3` … or `--overwrite`),
a resume writing its own files, and a scheduled job replacing its stable file."""

from __future__ import annotations

import json
import sqlite3
import stat
import subprocess
import textwrap
from datetime import date
from pathlib import Path

from clikit import Result, clean_env, yanbao_cmd

TOPIC = "云厂商资本开支"


def run_args(corpus: Path, *extra: str) -> list[str]:
    return ["run", TOPIC, "--llm", "extractive", "--search", "local", "--sources", str(corpus), "--out", "out",
            "--breadth", "1", "--max-loops", "1", "--quiet", *extra]


def yanbao_umask(cwd: Path, *args: str, umask: int = 0o022) -> Result:
    proc = subprocess.run(yanbao_cmd(*args), cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120,
                          umask=umask)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stem_of(day_stem: str, n: int = 1) -> str:
    return day_stem if n == 1 else f"{day_stem}-{n}"


def names(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.is_file() and p.suffix in (".md", ".html", ".json"))


def mark_unfinished(out: Path, run_id: str) -> None:
    with sqlite3.connect(out / "yanbao.db") as conn:
        conn.execute("UPDATE runs SET status='failed', report_path=NULL WHERE id=?", (run_id,))


def test_stdout_lists_every_file_report_last_readable_by_the_group(corpus, tmp_path):
    res = yanbao_umask(tmp_path, *run_args(corpus, "--format", "md,html"))
    assert res.code == 0, res.stderr
    lines = res.stdout.splitlines()
    stem = f"{date.today().isoformat()}-{TOPIC}"
    out = (tmp_path / "out").resolve()
    assert lines == [str(out / f"{stem}.html"), str(out / f"{stem}.check.json"), str(out / f"{stem}.run.json"),
                     str(out / f"{stem}.md")]
    assert res.report == out / f"{stem}.md"
    assert set(res.manifest["outputs"]) <= set(lines)
    for line in lines:
        assert mode(Path(line)) == 0o644, (line, oct(mode(Path(line))))
    assert not list(out.glob(".*.tmp"))


def test_outputs_respect_a_stricter_umask(corpus, tmp_path):
    res = yanbao_umask(tmp_path, *run_args(corpus, "--format", "md,html"), umask=0o027)
    assert res.code == 0, res.stderr
    for line in res.stdout.splitlines():
        assert mode(Path(line)) == 0o640, line


def test_same_day_rerun_keeps_the_earlier_report(corpus, tmp_path):
    out = tmp_path / "out"
    day_stem = f"{date.today().isoformat()}-{TOPIC}"
    first = yanbao_umask(tmp_path, *run_args(corpus, "--format", "md,html"))
    assert first.code == 0, first.stderr
    (out / f"{day_stem}.md").write_text("# 早先的报告\n", encoding="utf-8")  # edited by hand: must survive
    before = {p: p.stat().st_mtime_ns for p in out.iterdir() if p.is_file() and p.suffix in (".md", ".html", ".json")}

    second = yanbao_umask(tmp_path, *run_args(corpus, "--format", "md,html"))
    assert second.code == 0, second.stderr
    assert [Path(p).name for p in second.stdout.splitlines()] == [
        f"{day_stem}-2.html", f"{day_stem}-2.check.json", f"{day_stem}-2.run.json", f"{day_stem}-2.md"]
    assert {p: p.stat().st_mtime_ns for p in before} == before  # nothing of the first run was touched
    assert (out / f"{day_stem}.md").read_text(encoding="utf-8") == "# 早先的报告\n"
    manifest = second.manifest
    assert manifest["previous"] == str((out / f"{day_stem}.md").resolve())  # for `yanbao diff PREVIOUS NEW`
    assert manifest["report"] == str(second.report) and second.report.name == f"{day_stem}-2.md"

    third = yanbao_umask(tmp_path, *run_args(corpus))
    assert third.code == 0, third.stderr
    assert third.report.name == f"{day_stem}-3.md"
    assert third.manifest["previous"] == str((out / f"{day_stem}-2.md").resolve())
    assert names(out) == sorted([
        f"{day_stem}.html", f"{day_stem}.md", f"{day_stem}.run.json", f"{day_stem}.check.json",
        f"{day_stem}-2.html", f"{day_stem}-2.md", f"{day_stem}-2.run.json", f"{day_stem}-2.check.json",
        f"{day_stem}-3.md", f"{day_stem}-3.run.json", f"{day_stem}-3.check.json",
    ])

    # --overwrite replaces the report of the base name, whole: its .html (not written now) goes too
    again = yanbao_umask(tmp_path, *run_args(corpus, "--overwrite"))
    assert again.code == 0, again.stderr
    assert again.report.name == f"{day_stem}.md" and "previous" not in again.manifest
    assert again.report.read_text(encoding="utf-8").startswith("# 主管架构研究报告")
    assert not (out / f"{day_stem}.html").exists()
    assert (out / f"{day_stem}-2.html").exists() and (out / f"{day_stem}-3.md").exists()


def test_a_name_is_taken_by_any_of_its_files(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    day_stem = f"{date.today().isoformat()}-{TOPIC}"
    (out / f"{day_stem}.html").write_text("<p>发布过的页面</p>", encoding="utf-8")  # its .md was deleted
    res = yanbao_umask(tmp_path, *run_args(corpus))
    assert res.code == 0, res.stderr
    assert res.report.name == f"{day_stem}-2.md"
    assert (out / f"{day_stem}.html").read_text(encoding="utf-8") == "<p>发布过的页面</p>"
    assert "previous" not in res.manifest  # no earlier markdown to compare with


def test_resume_writes_the_runs_own_files(corpus, tmp_path):
    out = tmp_path / "out"
    day_stem = f"{date.today().isoformat()}-{TOPIC}"
    first = yanbao_umask(tmp_path, *run_args(corpus))
    second = yanbao_umask(tmp_path, *run_args(corpus, "--format", "md,html"))
    assert first.code == second.code == 0, (first.stderr, second.stderr)
    assert second.report.name == f"{day_stem}-2.md"
    # The second run "died" after writing its files; the first report is gone. A rerun would take the
    # free base name: the resume must write -2 again, replacing only its own files.
    run_id = second.manifest["run_id"]
    mark_unfinished(out, run_id)
    for p in out.glob(f"{day_stem}.*"):
        p.unlink()
    res = yanbao_umask(tmp_path, "run", "--resume", run_id, "--out", "out", "--quiet")
    assert res.code == 0, res.stderr
    assert res.report.name == f"{day_stem}-2.md" and res.manifest["run_id"] == run_id
    assert [Path(p).name for p in res.stdout.splitlines()] == [
        f"{day_stem}-2.html", f"{day_stem}-2.check.json", f"{day_stem}-2.run.json", f"{day_stem}-2.md"]
    assert "resumed" in res.manifest and "previous" not in res.manifest
    assert names(out) == sorted([f"{day_stem}-2.html", f"{day_stem}-2.md", f"{day_stem}-2.run.json",
                                 f"{day_stem}-2.check.json"])


def test_resume_does_not_replace_a_report_another_run_wrote_meanwhile(corpus, tmp_path):
    out = tmp_path / "out"
    day_stem = f"{date.today().isoformat()}-{TOPIC}"
    first = yanbao_umask(tmp_path, *run_args(corpus))
    assert first.code == 0, first.stderr
    run_id = first.manifest["run_id"]
    mark_unfinished(out, run_id)  # it "died" before writing anything ...
    for p in out.glob(f"{day_stem}.*"):
        p.unlink()
    other = yanbao_umask(tmp_path, *run_args(corpus))  # ... and a new run took the name
    assert other.code == 0 and other.report.name == f"{day_stem}.md", other.stderr
    other_text = other.report.read_bytes()

    res = yanbao_umask(tmp_path, "run", "--resume", run_id, "--out", "out", "--quiet")
    assert res.code == 0, res.stderr
    assert res.report.name == f"{day_stem}-2.md"
    assert "another run's report" in res.stderr and res.stderr.startswith("yanbao: warning: ")
    assert (out / f"{day_stem}.md").read_bytes() == other_text
    assert json.loads((out / f"{day_stem}.run.json").read_text(encoding="utf-8"))["run_id"] == other.manifest["run_id"]
    # recorded: resumed again, it keeps to -2
    with sqlite3.connect(out / "yanbao.db") as conn:
        assert conn.execute("SELECT stem FROM runs WHERE id=?", (run_id,)).fetchone()[0] == f"{day_stem}-2"


def test_digest_of_the_day_is_kept_too(corpus, tmp_path):
    args = ["digest", TOPIC, "--llm", "extractive", "--search", "local", "--sources", str(corpus), "--out", "out",
            "--quiet"]
    first = yanbao_umask(tmp_path, *args)
    second = yanbao_umask(tmp_path, *args)
    assert first.code == second.code == 0, (first.stderr, second.stderr)
    day = date.today().isoformat()
    assert first.report.name == f"{day}-digest.md" and second.report.name == f"{day}-digest-2.md"
    assert [Path(p).name for p in second.stdout.splitlines()] == [
        f"{day}-digest-2.check.json", f"{day}-digest-2.run.json", f"{day}-digest-2.md"]
    third = yanbao_umask(tmp_path, *args, "--overwrite")
    assert third.code == 0 and third.report.name == f"{day}-digest.md", third.stderr


def test_a_scheduled_job_replaces_its_stable_file(corpus, tmp_path):
    (tmp_path / "jobs.toml").write_text(textwrap.dedent(f'''
        [[job]]
        name = "capex"
        topics = ["{TOPIC}"]
        cron = "0 8 * * *"
        llm = "extractive"
        search = "local"
        sources = "{corpus}"
        breadth = 1
        max_loops = 1
        out = "out"
        formats = ["md", "html"]
    '''), encoding="utf-8")
    out = tmp_path / "out"
    for _ in range(2):
        res = yanbao_umask(tmp_path, "schedule", "run", "capex", "--now")
        assert res.code == 0, (res.stdout, res.stderr)
    assert names(out) == ["capex.check.json", "capex.html", "capex.md", "capex.run.json"]  # no capex-2.*: replaced
    assert all(mode(out / n) == 0o644 for n in names(out))
    assert "previous" not in json.loads((out / "capex.run.json").read_text(encoding="utf-8"))
