"""`yanbao fetch URL [--json] [--allow-private]`: the JSON contract and the exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cli.app import app

KEYS = ["url", "final_url", "status", "title", "date", "publisher", "encoding", "text", "error"]
ROOT = Path(__file__).resolve().parents[2]

runner = CliRunner()


@pytest.fixture
def news(site, page):
    site.add("/news/port.html", page("news_article.html"))
    return site.url("/news/port.html")


def test_json_success(news):
    result = runner.invoke(app, ["fetch", news, "--json", "--allow-private"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload) == KEYS
    assert payload["url"] == news and payload["final_url"] == news
    assert payload["status"] == 200
    assert payload["error"] is None
    assert payload["encoding"] == "utf-8"
    assert payload["date"] == "2024-03-18"
    assert "内贸集装箱增长的原因主要有三点" in payload["text"]


def test_json_failure_exit_1(site):
    result = runner.invoke(app, ["fetch", site.url("/missing"), "--json", "--allow-private"])
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert list(payload) == KEYS
    assert payload["error"] == "HTTP 404" and payload["status"] == 404 and payload["text"] == ""


def test_private_address_refused_without_flag(news):
    result = runner.invoke(app, ["fetch", news, "--json"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "private address 127.0.0.1 refused"


@pytest.mark.parametrize("url", ["not a url", "ftp://example.com/x", "http://", "http://[::1"])
def test_bad_url_is_an_error_not_a_traceback(url):
    as_json = runner.invoke(app, ["fetch", url, "--json"])
    assert as_json.exit_code == 1
    assert as_json.exception is None or isinstance(as_json.exception, SystemExit)
    assert json.loads(as_json.stdout)["error"]

    plain = runner.invoke(app, ["fetch", url])
    assert plain.exit_code == 1
    assert "Traceback" not in plain.output
    assert "fetch failed" in plain.stderr


def test_human_output(news):
    result = runner.invoke(app, ["fetch", news, "--allow-private"])
    assert result.exit_code == 0, result.output
    assert "沿海港口集装箱吞吐量回升" in result.stdout
    assert "2024-03-18" in result.stdout
    assert "内贸集装箱增长的原因主要有三点" in result.stdout


def test_real_subprocess(news):
    exe = Path(sys.executable).parent / "yanbao"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline.cli.app"]
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    done = subprocess.run(
        [*command, "fetch", news, "--json", "--allow-private"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert list(payload) == KEYS and payload["error"] is None
    assert "研究机构普遍预计" in payload["text"]

    failed = subprocess.run(
        [*command, "fetch", "mailto:someone@example.com", "--json"],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"] == "unsupported scheme 'mailto' (only http/https)"
    assert "Traceback" not in failed.stderr
