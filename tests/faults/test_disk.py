"""Disk full and read-only output: a clear one-line error, the earlier report intact, nothing partial."""

from __future__ import annotations

import resource
import signal
import subprocess
from pathlib import Path

import pytest
from faultkit import clean_env, yanbao_cmd

ARGS = ["--llm", "extractive", "--search", "local", "--quiet"]


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("yanbao: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_disk_full_keeps_the_earlier_report_whole(corpus, run_yanbao, tmp_path: Path):
    out = tmp_path / "out"
    first = run_yanbao("run", "云厂商资本开支", "--sources", str(corpus), "--out", str(out), *ARGS)
    assert first.returncode == 0, first.stderr
    report = Path(first.stdout.strip().splitlines()[-1])
    before = report.read_bytes()

    def small_disk():  # every file this process writes may grow to 8 KB: the disk is "full" after that
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))

    proc = subprocess.run(
        yanbao_cmd("run", "云厂商资本开支", "--sources", str(corpus), "--out", str(out), "--no-cache", *ARGS),
        env=clean_env(), capture_output=True, text=True, timeout=120, preexec_fn=small_disk,
    )
    assert proc.returncode == 1  # a run failure wherever the disk fills first (run store, facts store, report)
    line = one_line_error(proc)
    assert str(out) in line or "report" in line
    assert report.read_bytes() == before
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.fixture
def read_only_dir(tmp_path: Path):
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(ro)], capture_output=True).returncode == 0
    if mounted and subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True).returncode:
        subprocess.run(["umount", str(ro)])
        mounted = False
    if not mounted:
        pytest.skip("cannot make a read-only folder here (needs root and bind mounts)")
    yield ro
    subprocess.run(["umount", str(ro)])


def test_read_only_output_folder(corpus, run_yanbao, read_only_dir: Path):
    proc = run_yanbao("run", "云厂商资本开支", "--sources", str(corpus), "--out", str(read_only_dir), *ARGS)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert "not writable" in line and str(read_only_dir) in line
    assert list(read_only_dir.iterdir()) == []
