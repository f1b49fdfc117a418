"""Reports on Celery workers, with a real Redis, real `yanbao worker` processes and the fake Ollama."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from clikit import assert_one_line_error
from fake_ollama import FakeOllama
from queuekit import STORES, Workers, alive, request_key

MODEL = "qwen2.5:7b"


def ollama_args(host: str, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        "run", "人工智能发展趋势", "--llm", "ollama", "--ollama-host", host, "--search", "local",
        "--sources", str(corpus), "--out", str(out), "--breadth", "2", "--max-loops", "2", "--quiet",
        "--max-retries", "0", *extra,
    ]


def extractive_args(topic: str, corpus: Path, out: Path) -> list[str]:
    return ["run", topic, "--llm", "extractive", "--search", "local", "--sources", str(corpus), "--out", str(out),
            "--breadth", "1", "--max-loops", "1", "--quiet"]


def test_queued_report_is_the_report_run_would_write(workers: Workers, corpus, tmp_path):
    out = tmp_path / "out"
    direct = workers.cli(*extractive_args("人工智能发展趋势", corpus, tmp_path / "direct"), local=True)
    assert direct.code == 0, direct.stderr
    workers.start(out)
    queued = workers.cli(*extractive_args("人工智能发展趋势", corpus, out), "--queue")
    assert queued.code == 0, queued.stderr
    run_id = queued.stdout.strip()
    assert [line for line in queued.stdout.splitlines() if line] == [run_id]
    waited = workers.cli("runs", "wait", run_id, "--out", str(out), "--timeout", "120", "--quiet")
    assert waited.code == 0, waited.stderr
    assert waited.report.read_text(encoding="utf-8") == direct.text
    names = [Path(p).name for p in waited.stdout.split()]
    assert names == [Path(p).name for p in direct.stdout.split()]  # the same files, the report last
    manifest = waited.manifest
    assert manifest["run_id"] == run_id and "resumed" not in manifest  # a first attempt, not a resume
    listed = workers.cli("runs", "list", "--out", str(out))
    assert f"{run_id}  done" in listed.stdout

    # Delivered again (a broker redelivery): the task is keyed by run id, a finished run is a no-op.
    calls = workers.rows(out, "SELECT COUNT(*) FROM calls WHERE run_id=?", run_id)[0][0]
    from pipeline.config import Settings
    from pipeline.run.worker import Broker

    Broker(Settings(broker=workers.broker)).publish(run_id, out, "yanbao")
    deadline = time.monotonic() + 30
    while "already done" not in workers.started[0].text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"run {run_id}: already done" in workers.started[0].text()
    assert workers.rows(out, "SELECT COUNT(*) FROM calls WHERE run_id=?", run_id)[0][0] == calls


def test_runs_wait_exits_with_the_runs_exit_code(workers: Workers, corpus, tmp_path):
    out = tmp_path / "out"
    workers.start(out)
    off_topic = workers.cli(*extractive_args("猫粮价格走势", corpus, out), "--queue")
    assert off_topic.code == 0, off_topic.stderr
    res = workers.cli("runs", "wait", off_topic.stdout.strip(), "--out", str(out), "--timeout", "120", "--quiet")
    assert_one_line_error(res, 3, "nothing relevant to the topic was found", "the report says so")
    assert res.report.is_file()  # the report that says so is listed, as `yanbao run` lists it

    with FakeOllama(models=["other:1b"]) as fake:  # the model is missing: the run fails
        failing = workers.cli(*ollama_args(fake.url, corpus, out), "--queue")
        assert failing.code == 0, failing.stderr
        res = workers.cli("runs", "wait", failing.stdout.strip(), "--out", str(out), "--timeout", "120", "--quiet")
    assert_one_line_error(res, 1, "qwen2.5:7b", "ollama pull")
    status = workers.rows(out, "SELECT status FROM runs WHERE id=?", failing.stdout.strip())[0][0]
    assert status == "failed"


def test_queueing_fails_in_one_line_and_records_nothing(workers: Workers, corpus, tmp_path):
    out = tmp_path / "out"
    bad = workers.cli(*extractive_args("  ", corpus, out), "--queue")
    assert_one_line_error(bad, 2, "topic is empty")
    down = workers.env()
    down["YANBAO_BROKER"] = "redis://127.0.0.1:9/0"
    import subprocess

    from clikit import yanbao_cmd

    proc = subprocess.run(yanbao_cmd(*extractive_args("人工智能发展趋势", corpus, out), "--queue"), env=down,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("yanbao: cannot reach the broker at redis://127.0.0.1:9/0")
    assert not (out / "yanbao.db").exists() or not workers.rows(out, "SELECT id FROM runs")
    worker = subprocess.run(yanbao_cmd("worker", "--out", str(out)), env=down, capture_output=True, text=True,
                            timeout=60)
    assert worker.returncode == 1 and worker.stderr.startswith("yanbao: cannot reach the broker"), worker.stderr


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_two_workers_share_20_jobs_each_done_exactly_once(workers: Workers, corpus, tmp_path):
    with FakeOllama(models=[MODEL], delay_s=0.05) as fake:
        one = workers.cli(*ollama_args(fake.url, corpus, tmp_path / "one", "--breadth", "1", "--max-loops", "1"),
                          local=True)
        assert one.code == 0, one.stderr
        per_report = Counter(request_key(r) for r in fake.requests)
        fake.reset()

        jobs = ["[defaults]", 'kind = "research"', 'llm = "ollama"', f'ollama_host = "{fake.url}"',
                'search = "local"', f'sources = "{corpus}"', "breadth = 1", "max_loops = 1", "max_retries = 0",
                "cache = false",  # a shared store shares its cache: each job must still ask for every reply
                'cron = "*/5 * * * *"', ""]
        for i in range(20):  # each job its own folder, so its own store and cache: nothing is shared
            jobs += ["[[job]]", f'name = "job-{i:02d}"', 'topics = ["人工智能发展趋势"]', f'out = "out/job-{i:02d}"', ""]
        jobs_file = tmp_path / "jobs.toml"
        jobs_file.write_text("\n".join(jobs), encoding="utf-8")

        first = workers.start(tmp_path / "out", concurrency=2)
        second = workers.start(tmp_path / "out", concurrency=2)
        at = datetime.now().astimezone().isoformat(timespec="seconds")  # both passes in one cron slot
        queued = workers.cli("schedule", "run", "--due", "--queue", "--jobs", str(jobs_file), "--at", at)
        assert queued.code == 0, queued.stderr
        assert queued.stdout.count(": queued: ") == 20 and "20 queued, 0 failed" in queued.stdout
        again = workers.cli("schedule", "run", "--due", "--queue", "--jobs", str(jobs_file), "--at", at)
        assert "nothing due" in again.stdout  # queued counts as this slot's run

        outs = [tmp_path / "out" / f"job-{i:02d}" for i in range(20)]
        stores = outs[:1] if workers.store else outs  # a shared store holds every folder's rows

        def rows(sql: str) -> list[tuple]:
            return sorted(r for o in stores for r in workers.rows(o, sql))

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            jobs_done = rows("SELECT job, status FROM job_runs")
            if all(status != "queued" for _, status in jobs_done):
                break
            time.sleep(0.5)
        assert jobs_done == [(f"job-{i:02d}", "done") for i in range(20)]  # one execution each, done
        # Every report was asked of the model exactly once: 20 times one report's requests, none twice.
        assert Counter(request_key(r) for r in fake.requests) == Counter({k: 20 * n for k, n in per_report.items()})

    runs = rows("SELECT id, status, report_path FROM runs")
    assert len(runs) == 20 and {r[1] for r in runs} == {"done"}
    assert sorted(Path(r[2]) for r in runs) == [(o / f"{o.name}.md").resolve() for o in outs]  # stable names
    for o in outs:
        assert (o / f"{o.name}.md").read_text(encoding="utf-8") == one.text
    outcomes = [json.loads(r[0]) for r in rows("SELECT output FROM steps WHERE step='queue.outcome'")]
    assert len(outcomes) == 20 and {o["exit_code"] for o in outcomes} == {0}
    served_by = Counter(o["worker"].rsplit(":", 1)[1] for o in outcomes)
    assert set(served_by) == {str(first.pid), str(second.pid)}  # both took a share
    listed = workers.cli("schedule", "list", "--jobs", str(jobs_file))
    assert listed.stdout.count(" done ") == 20


@pytest.mark.parametrize("store_url", STORES, indirect=True)
def test_sigkill_mid_report_the_other_worker_finishes_it_sending_only_the_lost_request(workers: Workers, corpus, tmp_path):
    with FakeOllama(models=[MODEL]) as fake:
        base = workers.cli(*ollama_args(fake.url, corpus, tmp_path / "baseline", "--concurrency", "1"), local=True)
        assert base.code == 0, base.stderr
        baseline = base.text
        wanted = [request_key(r) for r in fake.requests]
        assert len(set(wanted)) == len(wanted) > 10
        fake.reset()
        fake.delay_s = 0.3  # each request is in flight for a while: the kill lands inside one

        out = tmp_path / "out"
        one, two = workers.start(out), workers.start(out)
        queued = workers.cli(*ollama_args(fake.url, corpus, out, "--concurrency", "1"), "--queue")
        assert queued.code == 0, queued.stderr
        run_id = queued.stdout.strip()
        deadline = time.monotonic() + 120
        while len(fake.requests) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        holder = workers.run_pid(out, run_id)
        assert holder in (one.pid, two.pid)
        in_flight = request_key(fake.requests[-1])
        (victim, survivor) = (one, two) if holder == one.pid else (two, one)
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait(timeout=10)
        assert not alive(victim.pid)

        res = workers.cli("runs", "wait", run_id, "--out", str(out), "--timeout", "180", "--quiet")
        assert res.code == 0, (res.stderr, survivor.text()[-3000:])
        assert res.report.read_text(encoding="utf-8") == baseline  # byte-identical
        sent = Counter(request_key(r) for r in fake.requests)
    # Every request of the uninterrupted run was sent, and only the one in flight at the kill twice.
    assert set(sent) == set(wanted)
    assert [k for k, n in sent.items() if n > 1] == [in_flight] and sent[in_flight] == 2
    assert f"run {run_id}: resuming" in survivor.text()
    outcome = json.loads(workers.rows(out, "SELECT output FROM steps WHERE run_id=? AND step='queue.outcome'", run_id)[0][0])
    assert outcome["worker"].endswith(f":{survivor.pid}") and outcome["exit_code"] == 0
    manifest = res.manifest
    assert manifest["resumed"]["earlier_tasks"] >= 5


@pytest.mark.parametrize("cmd", [["worker"], ["run", "x", "--queue"]])
def test_without_celery_the_commands_say_how_to_install_it(cmd, tmp_path):
    """The scale extra is optional: with Celery hidden, the commands exit 2 with the install hint."""
    import subprocess
    import sys

    from clikit import clean_env

    hide = (
        "import sys, runpy; sys.modules['celery'] = None; sys.argv = ['yanbao', *sys.argv[1:]]; "
        "runpy.run_module('pipeline.cli.app', run_name='__main__')"
    )
    proc = subprocess.run([sys.executable, "-c", hide, *cmd, "--out", str(tmp_path / "out")], cwd=tmp_path,
                          env=clean_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("yanbao: workers need Celery") and "yanbao[scale]" in proc.stderr
