"""Search over a folder of local markdown/text documents: SQLite FTS5 over jieba tokens.

Why this shape:

* FTS5's default `unicode61` tokenizer cannot segment Chinese, so each passage is stored as its jieba
  tokens joined by spaces; queries are tokenized by the same `pipeline.text.tokens` and OR-ed, so both
  sides see the same words and `bm25()` ranks as it would for a space-separated language.
* Documents are indexed as passages of roughly 300–500 characters (paragraph, then sentence boundaries):
  bm25 over a whole long document rewards length; over passages it finds the paragraph that answers, which
  is also the snippet we show. A document ranks by its best passage.
* The index is a cache on disk keyed by (relative path, size, mtime_ns): opening it re-reads only files
  that changed, and a search re-checks the folder at most once per second, so a file edited during a
  run is picked up without paying a directory scan per query.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import logging
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.documents import DocumentError, iter_source_files, read_document
from pipeline.models import JSONObject, SearchResult
from pipeline.search.base import SearchError
from pipeline.text import split_sentences, tokens, tokens_id

log = logging.getLogger("yanbao.search")

SCHEMA_VERSION = f"1/{tokens_id()}"  # a new tokenizer rebuilds the index: stored tokens must match the query's
PASSAGE_MIN_CHARS = 300
PASSAGE_MAX_CHARS = 500
SNIPPET_MAX_CHARS = 300
TITLE_WEIGHT = 0.5  # bm25 weight of the title column relative to the passage text

_CJK_END = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]$")
_INDEXABLE = re.compile(r"[^\W_]")


def _join_sentences(sentences: list[str]) -> str:
    """Join sentences of one paragraph: no space after Chinese, one space after Latin text."""
    out = ""
    for s in sentences:
        if out and not _CJK_END.search(out):
            out += " "
        out += s
    return out


def split_passages(
    body: str, min_chars: int = PASSAGE_MIN_CHARS, max_chars: int = PASSAGE_MAX_CHARS
) -> list[str]:
    """Split a document body into passages of roughly `min_chars`–`max_chars` characters.

    A passage ends at a paragraph end once it has `min_chars`, or before a sentence that would push it
    over `max_chars`. A sentence longer than `max_chars` is cut into pieces. Headings stay at the start of
    the passage that follows them. A short tail is merged into the passage before it.
    """
    units: list[tuple[str, bool]] = []  # (sentence, ends a paragraph)
    for para in re.split(r"\n\s*\n", body):
        sentences = split_sentences(para)
        pieces: list[str] = []
        for s in sentences:
            pieces.extend(s[i : i + max_chars] for i in range(0, len(s), max_chars))
        units.extend((p, i == len(pieces) - 1) for i, p in enumerate(pieces))

    passages: list[str] = []
    paras: list[list[str]] = []  # current passage as paragraphs of sentences
    length = 0

    def flush() -> None:
        nonlocal paras, length
        text = "\n".join(_join_sentences(p) for p in paras if p).strip()
        if text:
            passages.append(text)
        paras, length = [], 0

    new_para = True
    for sentence, ends_para in units:
        if length and length + len(sentence) > max_chars:
            flush()
            new_para = True
        if new_para or not paras:
            paras.append([])
        paras[-1].append(sentence)
        length += len(sentence) + 1
        new_para = ends_para
        if ends_para and length >= min_chars:
            flush()
    flush()
    if len(passages) >= 2 and len(passages[-1]) < min_chars // 3:
        if len(passages[-2]) + len(passages[-1]) <= max_chars + min_chars // 3:
            passages[-2:] = [passages[-2] + "\n" + passages[-1]]
    return passages


def _query_terms(query: str) -> list[str]:
    """Distinct jieba tokens of the query, in order; falls back to raw words when all are stop words."""
    terms = [t for t in tokens(query) if _INDEXABLE.search(t)]
    if not terms:
        terms = [w for w in re.findall(r"[\w\u3400-\u9fff]+", query.lower()) if _INDEXABLE.search(w)]
    return list(dict.fromkeys(terms))


def make_snippet(passage: str, terms: list[str], max_chars: int = SNIPPET_MAX_CHARS) -> str:
    """The run of whole sentences of `passage` (≤ max_chars) that contains the most query terms."""
    if len(passage) <= max_chars:
        return passage
    sentences = split_sentences(passage)
    if not sentences:
        return passage[: max_chars - 1] + "…"
    hits = [sum(1 for t in terms if t in s.lower()) for s in sentences]
    best: tuple[int, int, int] = (-1, 0, 0)  # (hits, -start, end)
    for start in range(len(sentences)):
        length, score, end = 0, 0, start
        while end < len(sentences) and length + len(sentences[end]) <= max_chars:
            length += len(sentences[end])
            score += hits[end]
            end += 1
        if end > start and (score, -start) > best[:2]:
            best = (score, -start, end)
    score, neg_start, end = best
    if score < 0:  # even the first sentence alone is too long
        return sentences[0][: max_chars - 1] + "…"
    return _join_sentences(sentences[-neg_start:end])


def _iso(value: object) -> str:
    """Front-matter dates as ISO strings: YAML turns `2024-05-01` into a `date`, we want the text back."""
    if value is None:
        return ""
    if isinstance(value, _dt.date | _dt.datetime):
        return value.isoformat()
    return str(value).strip()


PASSAGE_DECAY = (1.0, 0.5, 0.25)  # weights of a document's best, second and third passage scores


PassageRow = tuple[str, int, str, str, str, float]  # path, passage number, text, tokens, title tokens, bm25


def _rank_documents(rows: list[PassageRow], terms: list[str]) -> list[tuple[float, str, str]]:
    """(score, path, best passage) per document, best first (lower is better, as with bm25()).

    A document scores the decayed sum of its three best passage bm25 scores, times the share of query
    terms the whole document contains (Lucene's classic "coord" factor). Both correct the same weakness of
    ranking OR-ed queries by single passages: inside one long document the topic word is in every
    passage, so its passage-level IDF is low, and a stray passage holding two rare words elsewhere would
    beat the document that is about the topic. The decay keeps one strong passage decisive while letting
    a document that keeps returning to the query win ties. Ties go by path, so results are reproducible.
    The snippet passage is the best passage by bm25 times its own share of query terms.
    """
    wanted = set(terms)
    n = len(terms)
    scores: dict[str, list[float]] = {}
    covered: dict[str, set[str]] = {}
    snippet: dict[str, tuple[float, int, str]] = {}
    for rel, ord_, text, toks, title_toks, score in rows:
        present = wanted.intersection([*toks.split(), *title_toks.split()])
        scores.setdefault(rel, []).append(score)  # rows come best-first
        covered.setdefault(rel, set()).update(present)
        candidate = (score * max(len(present), 1) / n, ord_, text)
        if rel not in snippet or candidate[:2] < snippet[rel][:2]:
            snippet[rel] = candidate
    ranked = []
    for rel, doc_scores in scores.items():
        total = sum(w * s for w, s in zip(PASSAGE_DECAY, doc_scores, strict=False))
        ranked.append((total * max(len(covered[rel]), 1) / n, rel, snippet[rel][2]))
    return sorted(ranked, key=lambda r: (r[0], r[1]))


@dataclass
class _Prepared:
    """One file read and tokenized, ready to be written to the index."""

    rel: str
    size: int
    mtime_ns: int
    ok: bool
    warning: str = ""
    title: str = ""
    url: str = ""
    publisher: str = ""
    date: str = ""
    body: str = ""
    passages: list[tuple[str, str]] = field(default_factory=list)  # (tokens joined by spaces, text)
    title_tokens: str = ""


class LocalSearch:
    """BM25 search over the documents below `root`, indexed in SQLite FTS5 at `index_path`."""

    engine = "local"
    REFRESH_INTERVAL_S = 30.0  # a run reads the corpus as it was when it started; stat'ing it per search cost ~20 ms

    def __init__(self, root: Path, index_path: Path) -> None:
        """Open (or build) the index and bring it up to date with the folder.

        Raises `SearchError(kind="config")` when the folder is missing or unreadable or the index cannot
        be opened, and `SearchError(kind="empty")` when no document in the folder is usable.
        """
        self.root = Path(root)
        self.index_path = Path(index_path)
        self.warnings: list[str] = []
        self.document_count = 0
        self._corpus_hash = hashlib.sha256().hexdigest()
        self._lock = threading.RLock()
        self._last_refresh = float("-inf")
        self._check_root()
        self._root_abs = self.root.resolve()
        self._conn = self._open()
        self.refresh()
        if self.document_count == 0:
            n_files = len(iter_source_files(self._root_abs))
            if n_files == 0:
                why = "no .md, .markdown, .txt or .text files"
            else:
                why = f"{n_files} file(s) found, all skipped: " + "; ".join(self.warnings[:3])
            self.close()
            raise SearchError(f"no usable documents in {self.root} ({why})", kind="empty")

    # ------------------------------------------------------------------ setup

    def _check_root(self) -> None:
        try:
            if not self.root.exists():
                raise SearchError(f"sources folder not found: {self.root}", kind="config")
            if not self.root.is_dir():
                raise SearchError(f"sources path is not a folder: {self.root}", kind="config")
            with os.scandir(self.root) as it:
                next(it, None)
        except OSError as exc:
            raise SearchError(
                f"cannot read sources folder {self.root}: {exc.strerror or exc}", kind="config"
            ) from None

    def _open(self) -> sqlite3.Connection:
        """Connect and make sure the schema is ours; a corrupt index file is a cache and is rebuilt."""
        try:
            self.index_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SearchError(
                f"cannot create the folder of search index {self.index_path}: {exc.strerror or exc}",
                kind="config",
            ) from None
        for attempt in (1, 2):
            conn: sqlite3.Connection | None = None
            try:
                conn = sqlite3.connect(
                    self.index_path, timeout=30, check_same_thread=False, isolation_level=None
                )
                self._ensure_schema(conn)
                return conn
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                corrupt = "not a database" in str(exc) or "malformed" in str(exc)
                if attempt == 1 and corrupt and self.index_path.is_file():
                    log.warning("search index %s is corrupt (%s); rebuilding it", self.index_path, exc)
                    self.index_path.unlink()
                    continue
                raise SearchError(
                    f"cannot open search index {self.index_path}: {exc}", kind="config"
                ) from None
        raise AssertionError("unreachable")

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("version") != SCHEMA_VERSION or meta.get("root") != str(self._root_abs):
                conn.execute("DROP TABLE IF EXISTS files")
                conn.execute("DROP TABLE IF EXISTS passages")
                conn.execute(
                    "CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
                    " ok INTEGER NOT NULL, warning TEXT NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL,"
                    " publisher TEXT NOT NULL, date TEXT NOT NULL, body TEXT NOT NULL)"
                )
                conn.execute(
                    "CREATE VIRTUAL TABLE passages USING fts5("
                    "tokens, title, path UNINDEXED, ord UNINDEXED, text UNINDEXED)"
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [("version", SCHEMA_VERSION), ("root", str(self._root_abs))],
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> LocalSearch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ indexing

    def _prepare(self, rel: str, path: Path, size: int, mtime_ns: int) -> _Prepared:
        """Read and tokenize one file (outside the write transaction: jieba is the slow part)."""
        try:
            doc = read_document(path)
        except DocumentError as exc:
            warning = "skipped " + " ".join(str(exc).split())
            return _Prepared(rel, size, mtime_ns, ok=False, warning=warning)
        passages = []
        for text in split_passages(doc.body):
            toks = [t for t in tokens(text) if _INDEXABLE.search(t)]
            if toks:
                passages.append((" ".join(toks), text))
        if not passages:
            return _Prepared(rel, size, mtime_ns, ok=False, warning=f"skipped {path}: no text to index")
        meta = doc.meta
        return _Prepared(
            rel,
            size,
            mtime_ns,
            ok=True,
            title=" ".join(doc.title.split()),
            url=doc.url,
            publisher=str(meta.get("publisher") or meta.get("source") or "").strip(),
            date=_iso(meta.get("date")),
            body=doc.body,
            passages=passages,
            title_tokens=" ".join(t for t in tokens(doc.title) if _INDEXABLE.search(t)),
        )

    def refresh(self) -> dict[str, int]:
        """Bring the index in line with the folder; returns counts of added/updated/removed files.

        Changed files are read before the write transaction, then all changes are applied in one
        transaction, so a concurrent reader (another thread or process) never sees half an update.
        """
        with self._lock:
            self._check_root()
            on_disk: dict[str, tuple[int, int, Path]] = {}
            # The resolved root: iter_source_files drops paths with a part starting with ".", and a
            # relative root like "../sources" would otherwise lose every file.
            for path in iter_source_files(self._root_abs):
                try:
                    st = path.stat()
                except OSError:  # vanished between listing and stat
                    continue
                on_disk[path.relative_to(self._root_abs).as_posix()] = (st.st_size, st.st_mtime_ns, path)
            indexed = {
                rel: (size, mtime)
                for rel, size, mtime in self._conn.execute("SELECT path, size, mtime_ns FROM files")
            }
            changed = sorted(rel for rel, (s, m, _) in on_disk.items() if indexed.get(rel) != (s, m))
            removed = sorted(rel for rel in indexed if rel not in on_disk)
            prepared = [self._prepare(rel, on_disk[rel][2], *on_disk[rel][:2]) for rel in changed]
            if changed or removed:
                self._write(prepared, removed)
            self._load_state()
            self._last_refresh = time.monotonic()
            added = sum(1 for rel in changed if rel not in indexed)
            return {"added": added, "updated": len(changed) - added, "removed": len(removed)}

    def _write(self, prepared: list[_Prepared], removed: list[str]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for rel in [*removed, *(p.rel for p in prepared)]:
                conn.execute("DELETE FROM files WHERE path = ?", (rel,))
                conn.execute("DELETE FROM passages WHERE path = ?", (rel,))
            for p in prepared:
                conn.execute(
                    "INSERT INTO files (path, size, mtime_ns, ok, warning, title, url, publisher, date, body)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        p.rel,
                        p.size,
                        p.mtime_ns,
                        int(p.ok),
                        p.warning,
                        p.title,
                        p.url,
                        p.publisher,
                        p.date,
                        p.body,
                    ),
                )
                conn.executemany(
                    "INSERT INTO passages (tokens, title, path, ord, text) VALUES (?, ?, ?, ?, ?)",
                    [(toks, p.title_tokens, p.rel, i, text) for i, (toks, text) in enumerate(p.passages)],
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _load_state(self) -> None:
        """Document count, corpus hash and warnings from the index (it may have been built by another run)."""
        digest = hashlib.sha256()
        count = 0
        for rel, size, mtime in self._conn.execute(
            "SELECT path, size, mtime_ns FROM files WHERE ok = 1 ORDER BY path"
        ):
            digest.update(f"{rel}\0{size}\0{mtime}\n".encode())
            count += 1
        self.document_count = count
        self._corpus_hash = digest.hexdigest()
        for (warning,) in self._conn.execute("SELECT warning FROM files WHERE ok = 0 ORDER BY path"):
            if warning not in self.warnings:
                self.warnings.append(warning)
                log.warning("%s", warning)

    def _maybe_refresh(self) -> None:
        if time.monotonic() - self._last_refresh >= self.REFRESH_INTERVAL_S:
            with self._lock:
                if time.monotonic() - self._last_refresh >= self.REFRESH_INTERVAL_S:
                    self.refresh()

    # ------------------------------------------------------------------ the protocol

    def cache_identity(self) -> JSONObject:
        self._maybe_refresh()
        return {"engine": "local", "root": str(self._root_abs), "corpus": self._corpus_hash}

    def search(self, query: str, max_results: int = 5) -> list[SearchResult]:
        """One result per document, best first; ties broken by path so runs are reproducible."""
        if max_results <= 0:
            return []
        terms = _query_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)
        self._maybe_refresh()
        with self._lock:
            rows = self._conn.execute(
                "SELECT path, ord, text, tokens, title, bm25(passages, 1.0, ?) AS score FROM passages"
                " WHERE passages MATCH ? ORDER BY score, path, ord",
                (TITLE_WEIGHT, match),
            ).fetchall()
            ranked = _rank_documents(rows, terms)[:max_results]
            placeholders = ",".join("?" * len(ranked))
            docs = {
                row[0]: row
                for row in self._conn.execute(
                    f"SELECT path, title, url, publisher, date, body FROM files WHERE path IN ({placeholders})",
                    [rel for _, rel, _ in ranked],
                )
            }
        results = []
        for _score, rel, passage in ranked:
            _, title, url, publisher, date, body = docs[rel]
            results.append(
                SearchResult(
                    title=title,
                    url=url,
                    snippet=make_snippet(passage, terms),
                    content=body,
                    publisher=publisher,
                    date=date,
                    engine="local",
                    path=str(self._root_abs / rel),
                )
            )
        return results
