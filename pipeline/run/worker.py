"""The Celery side of workers: the app, its one task, publishing, and `yanbao worker` itself.

Celery (with its Redis transport) is the queue: delivery, prefetch, acknowledgement and redelivery
are its job, not ours. This module sets it up for long, resumable reports:

* `task_acks_late` + `task_reject_on_worker_lost`: a task is acknowledged when its report has
  ended, never on receipt, so a worker that dies mid-report leaves the message to the broker;
* `worker_prefetch_multiplier = 1`: a worker reserves no more reports than it runs (`--concurrency`),
  so an idle worker is never starved by a busy one holding the queue's next tasks;
* the `threads` pool: a report mostly waits on Ollama, and `run_report` is thread-safe (the
  scheduler already runs reports in threads), so one process per machine, N reports at once;
* the task is keyed by run id (its Celery task id is the run id) and is idempotent
  (pipeline/run/queue.py: a finished run is a no-op, a held one is left to its worker).

Imported only by `yanbao worker` and `--queue` paths: `import celery` costs ~0.3 s and the embedded
path must not pay it (tests/queue/test_embedded.py checks).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

from pipeline.config import Settings
from pipeline.run.db import redact
from pipeline.run.queue import QueueError, execute, sweep

TASK = "yanbao.report"
log = logging.getLogger("yanbao.worker")


def make_app(settings: Settings) -> Celery:
    """The app for this machine's settings: its broker, its queue, and its run store (`store`), which
    the task uses: a worker and the machines that queue reports must share the `store` setting."""
    app = Celery("yanbao", broker=settings.broker, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,  # the run store is the result: status, outcome, report path
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=settings.broker_queue,
        broker_connection_retry_on_startup=True,
        # A broker blip must not cancel reports in progress: their acks still land after reconnecting.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={
            # Redis re-delivers a task nobody acknowledged after this long. It must outlast the longest
            # report (a second delivery of a running report is a no-op, but it takes a worker slot);
            # a dead worker's report does not wait for it (the sweep below resumes it in seconds).
            "visibility_timeout": settings.broker_visibility_timeout,
            "socket_connect_timeout": 5,
        },
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1},
    )

    @app.task(name=TASK, ignore_result=True, shared=False)  # shared: every app would get every copy
    def report(run_id: str, out: str) -> int | None:
        known_stores.add(out)
        return execute(run_id, Path(out), settings.store)

    return app


class Broker:
    """Publishes queued runs. `check` first, so an unreachable broker is one line before anything is
    recorded."""

    def __init__(self, settings: Settings) -> None:
        self.url = redact(settings.broker)
        self.app = make_app(settings)

    def check(self) -> None:
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=5)
        except Exception as exc:  # kombu's OperationalError, DNS, a refused port ...
            raise QueueError(f"cannot reach the broker at {self.url}: {_cause(exc)}") from None

    def publish(self, run_id: str, out: Path, queue: str) -> None:
        try:
            self.app.send_task(TASK, args=[run_id, str(Path(out).resolve())], task_id=run_id, queue=queue,
                               retry=True)
        except Exception as exc:
            raise QueueError(f"cannot queue run {run_id} at {self.url}: {_cause(exc)}") from None


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return "connection refused" if "Connection refused" in text or "Errno 111" in text else text[:200]


class KnownStores:
    """The `out` folders whose run store this worker sweeps: its own setting's and every one a task
    named. With a shared store (PostgreSQL) there is one store for every folder, swept once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: set[str] = set()

    def add(self, out: str | Path) -> None:
        with self._lock:
            self._folders.add(str(Path(out).resolve()))

    def folders(self) -> list[Path]:
        with self._lock:
            return [Path(f) for f in sorted(self._folders)]


known_stores = KnownStores()


class Sweeper(threading.Thread):
    """Every `interval` seconds, hand the runs a dead worker left in a known store to the queue again."""

    def __init__(self, broker: Broker, settings: Settings) -> None:
        super().__init__(name="yanbao-sweep", daemon=True)
        self.broker = broker
        self.interval = settings.worker_sweep_s
        self.store = settings.store
        self.home = settings.out
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            for out in [self.home] if self.store else known_stores.folders():
                try:
                    sweep(out, self.broker.publish, self.store)
                except Exception as exc:  # a store or broker hiccup: the next pass tries again
                    log.warning("sweep of %s failed: %s", "the shared store" if self.store else out, exc)
            self.stopping.wait(self.interval)


def run_worker(settings: Settings, broker: Broker, loglevel: str = "INFO") -> None:
    """`yanbao worker`: run a Celery worker (threads pool) on `broker` (checked) until stopped."""
    from pipeline.llm.pool import share_through
    from pipeline.run.schedule import warm_up

    share_through(settings.broker)  # Ollama hosts balanced and capped across every worker of the fleet
    known_stores.add(settings.out)
    warm_up()  # load the tokenizers once, before several reports start together
    sweeper = Sweeper(broker, settings)

    @worker_ready.connect(weak=False)
    def _start_sweeping(**_kw: object) -> None:
        sweeper.start()

    @worker_shutting_down.connect(weak=False)
    def _stop_sweeping(**_kw: object) -> None:
        sweeper.stopping.set()

    # The app publishes the sweep's tasks too; the worker consumes with its own connection.
    broker.app.worker_main([
        "worker",
        "--pool=threads",
        f"--concurrency={settings.worker_concurrency}",
        f"--queues={settings.broker_queue}",
        f"--hostname=yanbao-{os.getpid()}@%h",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ])
