"""Report file names: an earlier report is kept (`-2`, `-3` …), `overwrite` replaces it, a resume keeps
its own files, and two runs never write one name at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.run.runner import RunFailed, claim_report, previous_report


def touch(out: Path, name: str, text: str = "x") -> None:
    (out / name).write_text(text, encoding="utf-8")


def claim(out: Path, base: str = "2025-06-01-ai", **kw) -> str:
    with claim_report(out, base, **kw) as stem:
        return stem


def test_first_free_number(tmp_path):
    assert claim(tmp_path) == "2025-06-01-ai"
    touch(tmp_path, "2025-06-01-ai.md")
    assert claim(tmp_path) == "2025-06-01-ai-2"
    touch(tmp_path, "2025-06-01-ai-2.run.json", "{}")  # any file of a name takes it
    assert claim(tmp_path) == "2025-06-01-ai-3"
    assert claim(tmp_path, overwrite=True) == "2025-06-01-ai"


def test_previous_report_is_the_latest_earlier_markdown(tmp_path):
    base = "2025-06-01-ai"
    assert previous_report(tmp_path, base, base) is None
    touch(tmp_path, f"{base}.md")
    touch(tmp_path, f"{base}-2.html")  # no markdown: not a report to compare with
    assert previous_report(tmp_path, base, f"{base}-3") == (tmp_path / f"{base}.md").resolve()
    touch(tmp_path, f"{base}-2.md")
    assert previous_report(tmp_path, base, f"{base}-3") == (tmp_path / f"{base}-2.md").resolve()


def test_resume_keeps_its_own_files_but_not_another_runs(tmp_path):
    base = "2025-06-01-ai"
    touch(tmp_path, f"{base}.md")
    touch(tmp_path, f"{base}.run.json", json.dumps({"run_id": "run-a"}))
    assert claim(tmp_path, base, run_id="run-a") == base
    assert claim(tmp_path, base, run_id="run-b") == f"{base}-2"
    touch(tmp_path, f"{base}-2.md")  # the report of a run that died before its run.json: its own
    assert claim(tmp_path, f"{base}-2", run_id="run-b") == f"{base}-2"


def test_a_name_being_written_is_not_taken_twice(tmp_path):
    with claim_report(tmp_path, "2025-06-01-ai") as stem, pytest.raises(RunFailed, match="another yanbao run"):
        assert stem == "2025-06-01-ai"
        claim(tmp_path)
    assert claim(tmp_path) == "2025-06-01-ai"  # released
