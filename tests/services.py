"""Real PostgreSQL and Redis servers for tests and benchmarks, started on loopback ports inside the run.

`.ci/run` installs the Debian packages (`postgresql`, `redis-server`) when they are missing; this
module only finds their programs and runs private instances: a fresh PostgreSQL cluster (`initdb`)
in a temporary folder, a Redis without persistence, each on a free 127.0.0.1 port, stopped and
removed after. Nothing touches a system cluster or service.

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user the Debian
package creates (or `nobody`) and its programs run through `runuser`; as any other user they run as
that user. Tests reach both through the fixtures of `tests/conftest.py` (`postgres_server`,
`postgres_url`, `redis_server`, `redis_url`); benchmarks use `Postgres`/`Redis` directly:

    with Postgres() as pg:
        url = pg.create_database("bench")

`ServiceMissing` means the package is not installed (tests skip on it); any other failure to start
is an error, because then the package is there and something is wrong.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

PG_USER = "yanbao"  # the cluster's superuser (trust authentication on loopback only)


class ServiceMissing(Exception):
    """The server's package is not installed here: tests that need it skip."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_bindir() -> Path | None:
    """The folder of `initdb`/`pg_ctl`/`postgres`: Debian keeps them in /usr/lib/postgresql/<v>/bin
    (the newest wins), other systems on PATH."""
    versions = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    return None


def _run_as() -> tuple[list[str], str | None]:
    """(command prefix, owner) for running PostgreSQL's programs: as root through `runuser` as a
    non-root user, else as ourselves."""
    if os.geteuid() != 0:
        return [], None
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        if shutil.which("runuser"):
            return ["runuser", "-u", user, "--"], user
    raise ServiceMissing("running as root without a postgres or nobody user and runuser: cannot run PostgreSQL")


class Postgres:
    """A private PostgreSQL cluster. `durable=False` (tests) turns fsync off: faster, and nothing in
    it must survive a crash of the machine; benchmarks keep the defaults."""

    def __init__(self, durable: bool = False) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise ServiceMissing("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.durable = durable
        self.prefix, self.owner = _run_as()
        self.base = Path(tempfile.mkdtemp(prefix="yanbao-pg-"))
        if self.owner is not None:
            shutil.chown(self.base, user=self.owner)
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self.running = False

    # lifecycle ------------------------------------------------------------------------------------

    def _cmd(self, program: str, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            [*self.prefix, str(self.bindir / program), *args], capture_output=True, text=True, timeout=timeout,
            cwd=self.base,
        )
        if proc.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.is_file() else ""
            raise RuntimeError(f"{program} {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()} {tail}")

    def init(self) -> None:
        self._cmd("initdb", "-D", str(self.data), "-A", "trust", "-U", PG_USER, "-E", "UTF8", "--locale=C", "--no-sync")

    def start(self) -> None:
        """Start (or start again after `stop`) on the same port; waits until it accepts connections."""
        opts = [
            "-c listen_addresses=127.0.0.1", f"-p {self.port}", f"-c unix_socket_directories={self.base}",
            "-c max_connections=300",
        ]
        if not self.durable:
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._cmd("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-o", " ".join(opts), "start")
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session (clients see their connection terminated)."""
        if self.running:
            self._cmd("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Postgres:
        try:
            self.init()
            self.start()
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    # databases ------------------------------------------------------------------------------------

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; returns its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Redis:
    """A private Redis without persistence on a free loopback port."""

    def __init__(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise ServiceMissing("Redis is not installed (apt-get install redis-server)")
        self.exe = exe
        self.base = Path(tempfile.mkdtemp(prefix="yanbao-redis-"))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *words: str) -> bytes:
        """Send one command (RESP) and return the raw reply line: enough to ping and flush."""
        payload = f"*{len(words)}\r\n".encode() + b"".join(
            f"${len(w.encode())}\r\n".encode() + w.encode() + b"\r\n" for w in words
        )
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(payload)
            return s.recv(4096)

    def start(self) -> None:
        log = open(self.base / "server.log", "ab")  # noqa: SIM115 - owned by the server process
        self.proc = subprocess.Popen(
            [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.base), "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(self.base / 'server.log').read_text(errors='replace')[-1000:]}")
            try:
                if self.command("PING").startswith(b"+PONG"):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING in 30 s")

    def flush(self) -> None:
        self.command("FLUSHALL")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> Redis:
        try:
            self.start()
        except BaseException:
            self.stop()
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
