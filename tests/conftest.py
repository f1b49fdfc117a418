"""Shared fixtures. `fake_ollama` is the scripted Ollama over real HTTP (tests/fake_ollama.py),
`fake_openai` a scripted OpenAI-compatible server (tests/fake_openai.py);
`real_ollama` is the real server from ../shared/tools/ollama-cpu, skipped when it is not running."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import fake_ollama` from any test folder

import services  # noqa: E402
from clikit import FIXTURE_CORPUS, Result, run_cli  # noqa: E402
from fake_ollama import FakeOllama  # noqa: E402
from fake_openai import FakeOpenAI  # noqa: E402

FAKE_MODEL = "qwen2.5:7b"
FAKE_OPENAI_MODEL = "qwen2.5-7b-instruct"


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A started fake Ollama with model `qwen2.5:7b`; `fake_ollama.url` is its host."""
    with FakeOllama(models=[FAKE_MODEL]) as fake:
        yield fake


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started fake OpenAI-compatible server serving `qwen2.5-7b-instruct`, no key required;
    `fake_openai.base_url` ends in /v1."""
    with FakeOpenAI(models=[FAKE_OPENAI_MODEL]) as fake:
        yield fake


@pytest.fixture
def real_ollama() -> Iterator[tuple[str, str]]:
    """`(host, model)` of a real Ollama; skips (never fails) when /api/version does not answer in 2 s."""
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434").rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    model = os.environ.get("OLLAMA_MODEL", "gemma3-270m")
    try:
        httpx.get(f"{host}/api/version", timeout=2.0).raise_for_status()
    except Exception as err:  # refused, timeout, bad URL, not an Ollama: skip, never fail
        pytest.skip(
            f"no Ollama at {host} ({type(err).__name__}); start it with "
            "bash ../shared/tools/ollama-cpu/start.sh"
        )
    yield host, model


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of the fixture corpus (the local index is written beside it)."""
    dest = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, dest)
    return dest


@pytest.fixture
def yanbao(tmp_path: Path):
    """Run `yanbao ARGS...` as a subprocess in tmp_path with a clean environment; returns a Result."""

    def run(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
        return run_cli(*args, cwd=tmp_path, timeout=timeout, env=env)

    return run


# -- local services (tests/services.py): PostgreSQL and Redis on loopback ports, started on first use --


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[services.Postgres]:
    """A private PostgreSQL cluster for the whole session; skips when PostgreSQL or psycopg is not
    installed (`.ci/run` installs both), fails when it is installed but does not start."""
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[scale]'")
    try:
        server = services.Postgres()
    except services.ServiceMissing as exc:
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: services.Postgres) -> Iterator[str]:
    """The URL of a new, empty database on the session's PostgreSQL (dropped after the test)."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[services.Redis]:
    """A private Redis for the whole session; skips when redis-server is not installed."""
    try:
        server = services.Redis()
    except services.ServiceMissing as exc:
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.fixture
def redis_url(redis_server: services.Redis) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url
