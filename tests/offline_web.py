"""`yanbao` as users run it, on a machine whose web is a local test site: `python tests/offline_web.py ARGS...`
runs `yanbao ARGS...` with two things of the outside world replaced, and nothing else:

* The fetcher counts 127.0.0.1 as a public address, so a page of a local test server is read with the
  default settings (no `--allow-private`); every other address keeps its guard.
* DuckDuckGo is a fake `ddgs` client: it answers every query with the hits in the environment variable
  `OFFLINE_WEB_HITS` (a JSON list of ddgs' `{"title", "href", "body"}`), or, without it, fails as ddgs
  does on a machine without network (a DNS error), so `--search auto` falls back to the local corpus.

Tests never reach the internet this way, whatever the machine they run on.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

import pipeline.search.fetch as fetch
from pipeline.search.duckduckgo import DuckDuckGoSearch

HITS_VAR = "OFFLINE_WEB_HITS"
_public = fetch._non_public


class _FakeDDGS:
    def text(self, query: str, region: str = "", safesearch: str = "", max_results: int = 5) -> list[dict]:
        hits = os.environ.get(HITS_VAR)
        if hits is None:
            raise OSError("DNSError: error resolving DNS > DNS error: no records found for html.duckduckgo.com")
        return json.loads(hits)[:max_results]


def main() -> None:
    fetch._non_public = lambda ip: ip != "127.0.0.1" and _public(ip)
    DuckDuckGoSearch._default_client = lambda self: _FakeDDGS()  # type: ignore[method-assign]
    sys.argv = ["yanbao", *sys.argv[1:]]
    runpy.run_module("pipeline.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
