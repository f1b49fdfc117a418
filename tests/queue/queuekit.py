"""Helpers for the worker tests: `yanbao worker` processes, queueing, and reading the run store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from clikit import Result, clean_env, yanbao_cmd


@dataclass
class Worker:
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


STORES = ["sqlite", "postgresql"]  # for @pytest.mark.parametrize("store_url", STORES, indirect=True)


class Workers:
    """`yanbao worker` subprocesses sharing one broker and one run store (the environment names them,
    as users do: YANBAO_BROKER, YANBAO_STORE); `yanbao` commands run with the same environment."""

    def __init__(self, broker: str, folder: Path, store: str = "") -> None:
        self.broker = broker
        self.folder = folder
        self.store = store
        self.started: list[Worker] = []

    def env(self, **extra: str) -> dict:
        env = clean_env()
        env["YANBAO_BROKER"] = self.broker
        if self.store:
            env["YANBAO_STORE"] = self.store
        env["YANBAO_WORKER_SWEEP_S"] = "0.5"  # a dead worker's report is picked up within a second
        env.update(extra)
        return env

    def rows(self, out: Path, sql: str, *params: object) -> list[tuple]:
        """Rows of the run store the workers use (`out`'s SQLite file, or the shared database)."""
        from pipeline.run.store import RunStore

        store = RunStore(self.store or out / "yanbao.db")
        try:
            return [tuple(r) for r in store._conn().execute(sql, params).fetchall()]
        finally:
            store.close()

    def run_pid(self, out: Path, run_id: str) -> int | None:
        """The pid of the process running `run_id` (a worker), None when it is not running."""
        rows = self.rows(out, "SELECT pid, status FROM runs WHERE id=?", run_id)
        return rows[0][0] if rows and rows[0][1] == "running" else None

    def start(self, out: Path, concurrency: int = 1, queue: str = "yanbao") -> Worker:
        log = self.folder / f"worker-{len(self.started) + 1}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(
                yanbao_cmd("worker", "--out", str(out), "--concurrency", str(concurrency), "--queue", queue),
                cwd=self.folder, env=self.env(), stdout=fh, stderr=subprocess.STDOUT,
            )
        worker = Worker(proc, log)
        self.started.append(worker)
        deadline = time.monotonic() + 60
        while " ready." not in worker.text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start: {worker.text()[-2000:]}")
            time.sleep(0.05)
        return worker

    def cli(self, *args: str, timeout: float = 120, local: bool = False) -> Result:
        """`yanbao ARGS` with the workers' environment; `local`: on a SQLite store in its --out folder
        whatever the workers use (a baseline that must not fill the shared store's cache)."""
        env = self.env()
        if local:
            env.pop("YANBAO_STORE", None)
        proc = subprocess.run(yanbao_cmd(*args), cwd=self.folder, env=env, capture_output=True, text=True,
                              timeout=timeout)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def stop_all(self) -> None:
        for w in self.started:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
        for w in self.started:
            try:
                w.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()


def request_key(req: dict) -> str:
    """What makes two requests the same request (as tests/faults/faultkit.py keys them)."""
    return json.dumps({"m": req.get("messages"), "f": req.get("format"), "o": req.get("options")},
                      sort_keys=True, ensure_ascii=False)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
