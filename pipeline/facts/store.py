"""The local facts store: every number of every source, with what it is about, in SQLite.

Why SQLite: one file beside the outputs, safe for several processes (WAL + busy_timeout), indexes
that keep a check near-flat in the store size, and transactions, so that a bad file in an import
leaves the store exactly as it was.

Tables:

* `sources` — one row per imported document, text or curated URL. `origin` is what a re-import
  replaces (the file path, the text URL, the facts.yaml path) and `sha256` makes an unchanged
  re-import a no-op.
* `facts` — one row per number: normalized value (range end in `value_hi`), unit and unit class, the
  written precision (`step`, `sig_step`, `bound`), the sentence and its key (`skey`, under which a
  report sentence that quotes it finds it at once), what the number is about (clause terms, sentence
  terms with the sentence before and the source's lead, names, metric head, role, periods).
  Indexed by (unit class, value) and by sentence key.
* `fact_terms` — postings (term, unit class, value) → fact, for the clause terms and the names of
  every fact (`near` marks the clause terms; a range has postings at both ends). A check finds its
  candidates by the rarest few of its own terms (`candidates`: at most a few dozen, ranked in SQL by
  shared terms), so its cost follows how many facts are like the claim, not how many are stored;
  terms on more than TERM_CAP facts of a unit class (`term_df`) name nothing in particular and find
  nothing. The terms come from the lexicon and stop lists (`meta.vocabulary`); a store written with
  other lists re-derives them from its stored sentences when opened.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TypeAlias

from pipeline.documents import (
    MAX_DOCUMENT_BYTES,
    TEXT_SUFFIXES,
    DocumentError,
    decode_bytes,
    iter_source_files,
    read_document,
)
from pipeline.facts.extract import decimal_text, extract_claims, parse_quantity, unit_class
from pipeline.facts.referents import (
    TextReferents,
    is_named,
    role_of,
    sentence_terms,
    terms_of,
    times_of,
    vocabulary_id,
)
from pipeline.run.db import PgConnection, Row, StoreError, is_url, redact

SCHEMA_VERSION = 5
#: The reading rules a fact was derived with (extract.py, referents.py: times, roles, clauses). Bump it
#: when they change: a store written with other rules keeps its facts, but the next import of a source
#: reads it again instead of skipping it as unchanged.
RULES = "2026-11-30"
CURATED_NAMES = ("facts.yaml", "facts.yml")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    origin TEXT NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    date TEXT NOT NULL DEFAULT '',
    sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sources_origin ON sources(origin);
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL,
    value REAL NOT NULL,
    value_hi REAL,
    unit TEXT NOT NULL,
    uclass TEXT NOT NULL,
    approx INTEGER NOT NULL,
    bound TEXT NOT NULL,
    step REAL NOT NULL,
    sig_step REAL NOT NULL,
    text TEXT NOT NULL,
    sentence TEXT NOT NULL,
    near TEXT NOT NULL,
    terms TEXT NOT NULL,
    times TEXT NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    role TEXT NOT NULL DEFAULT 'level',
    head TEXT NOT NULL DEFAULT '',
    names TEXT NOT NULL DEFAULT '',
    skey TEXT NOT NULL DEFAULT '',
    sterms TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS facts_skey ON facts(skey);
CREATE INDEX IF NOT EXISTS facts_unit_value ON facts(uclass, value);
CREATE INDEX IF NOT EXISTS facts_source ON facts(source_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS term_df (
    term TEXT NOT NULL,
    uclass TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (term, uclass)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fact_terms (
    term TEXT NOT NULL,
    uclass TEXT NOT NULL,
    value REAL NOT NULL,
    fact_id INTEGER NOT NULL,
    near INTEGER NOT NULL,
    PRIMARY KEY (term, uclass, value, fact_id)
) WITHOUT ROWID;
"""

_FACT_COLUMNS = (
    "f.id, f.value, f.value_hi, f.unit, f.uclass, f.approx, f.bound, f.step, f.sig_step, f.text, "
    'f.sentence, f.near, f.terms, f.times, f.start, f."end", s.title, s.url, f.role, f.head, f.names, f.sterms'
)
_URL_RE = re.compile(r"^https?://[^\s/]+\S*$")
TERM_CAP = 300  # a term on more facts than this (per unit class) is too common to find a referent by
LOOKUP_TERMS = 5  # candidates are found by the rarest few of a claim's terms


class FactsError(Exception):
    """An import or a check cannot proceed. The message names the file (and line, for YAML)."""


@dataclass(frozen=True)
class Fact:
    """One stored number and what it is about.

    The word sets are kept as the store writes them (words joined by blanks) and made sets on first
    use: a check reads thousands of facts and turns most of them away on their times, role or names
    before it looks at their words, and a fresh process spent a fifth of its check building sets.
    """

    id: int
    value: float
    value_hi: float | None
    unit: str
    uclass: str
    approx: bool
    bound: str
    step: float
    sig_step: float
    text: str
    sentence: str
    near_words: str
    terms_words: str
    times_words: str
    start: int
    end: int
    source_title: str
    source_url: str
    role: str = "level"
    head_words: str = ""
    names_words: str = ""
    sentence_words: str = ""

    @property
    def source(self) -> str:
        """How a reader finds the source again: its title, else its URL."""
        return self.source_title or self.source_url

    @cached_property
    def near(self) -> frozenset[str]:
        """The terms of the number's clause."""
        return frozenset(self.near_words.split())

    @cached_property
    def terms(self) -> frozenset[str]:
        """The terms of its sentence, the sentence before and the source's lead."""
        return frozenset(self.terms_words.split())

    @cached_property
    def times(self) -> frozenset[str]:
        return frozenset(self.times_words.split())

    @cached_property
    def head(self) -> frozenset[str]:
        """The metric words right before the number."""
        return frozenset(self.head_words.split())

    @cached_property
    def names(self) -> frozenset[str]:
        return frozenset(self.names_words.split())

    @cached_property
    def sentence_terms(self) -> frozenset[str]:
        """The terms of its sentence alone, as the import tokenized it (a check compares sentences)."""
        return frozenset(self.sentence_words.split()) if self.sentence_words else sentence_terms(self.sentence)


_FACT_FIELDS = tuple(f.name for f in fields(Fact))


@dataclass(frozen=True)
class SourceInfo:
    id: int
    kind: str
    title: str
    url: str
    date: str
    origin: str
    facts: int


@dataclass
class ImportResult:
    """What an import did: documents imported, documents unchanged (skipped), facts added."""

    imported: int = 0
    unchanged: int = 0
    facts: int = 0
    paths: list[str] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        self.imported += other.imported
        self.unchanged += other.unchanged
        self.facts += other.facts
        self.paths.extend(other.paths)


@dataclass
class _CuratedFact:
    entity: str
    metric: str
    written: str
    as_of: str
    source: str
    aliases: list[str]
    quote: str
    offset: int


class FactStore:
    """SQLite facts store. One instance may be shared by threads; writes are serialized."""

    def __init__(self, path: str | Path = ":memory:", *, timeout: float = 30.0) -> None:
        self.path = str(path)
        shared = is_url(self.path)  # a postgresql:// URL: the shared store (pipeline/run/db.py speaks sqlite3's subset)
        if self.path != ":memory:" and not shared:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._term_counts: dict[str, dict[str, int]] = {}
        self._fact_cache: dict[int, Fact] = {}
        self._local = threading.local()  # .lookups: this thread's memo of candidate lookups, in a check
        self._generation = 0  # counts writes: a memo made before the last one is stale
        try:
            self._db = (
                PgConnection(self.path, "facts") if shared
                else sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            )
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute("PRAGMA cache_size = -65536")  # 64 MB: bulk imports touch index pages at random
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise FactsError(f"{self.path}: facts store schema {version} is newer than this yanbao ({SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                with self.transaction():
                    if version == 4:
                        # Schema 5 keeps each fact's sentence terms (a check compares sentences without
                        # tokenizing thousands of them): derived from the stored sentence, in place.
                        self._db.execute("ALTER TABLE facts ADD COLUMN sterms TEXT NOT NULL DEFAULT ''")
                        self._db.executemany(
                            "UPDATE facts SET sterms = ? WHERE id = ?",
                            [(_joined(sentence_terms(sentence)), fid)
                             for fid, sentence in self._db.execute("SELECT id, sentence FROM facts").fetchall()],
                        )
                    if version in (1, 2, 3):
                        # Schema 3 stores each fact's role, metric and names (4: its sentence key),
                        # computed from the source text, which older stores do not keep: facts are derived
                        # data, so the old rows go and every source is imported afresh when next used.
                        for table in ("fact_terms", "term_df", "facts", "sources", "meta"):
                            self._db.execute(f"DROP TABLE IF EXISTS {table}")
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._sync_vocabulary()
            self._sync_rules()
        except (sqlite3.DatabaseError, StoreError) as exc:
            where = redact(self.path) if shared else self.path
            raise FactsError(f"{where}: cannot open the facts store: {exc}") from None

    def _sync_vocabulary(self) -> None:
        """Re-derive every fact's terms when the lexicon changed since they were written.

        A fact's terms, names, metric and role come from the lexicon and stop lists (`vocabulary_id`);
        a store written with other lists would silently miss candidates. The stored sentence is
        read again (the terms of the source's lead and previous sentence, which it does not keep,
        are lost until the source is imported again), then the postings are rebuilt.
        """
        want = vocabulary_id()
        row = self._db.execute("SELECT value FROM meta WHERE key = 'vocabulary'").fetchone()
        if row is not None and row[0] == want:
            return
        with self.transaction():
            if row is not None:
                self._db.execute("DELETE FROM fact_terms")
                self._db.execute("DELETE FROM term_df")
                updates = []
                for fid, text, sentence, unit in self._db.execute("SELECT id, text, sentence, unit FROM facts").fetchall():
                    at = max(0, sentence.find(text))
                    r = TextReferents(sentence).referent(at, at + len(text), unit)
                    updates.append((
                        _joined(r.near), _joined(r.terms), _joined(r.names), r.role, _joined(r.head),
                        _joined(sentence_terms(sentence)), fid,
                    ))
                self._db.executemany(
                    "UPDATE facts SET near = ?, terms = ?, names = ?, role = ?, head = ?, sterms = ? WHERE id = ?", updates
                )
                rows = self._db.execute("SELECT id, value, value_hi, uclass, near, names, terms FROM facts").fetchall()
                self._add_postings([p for r in rows for p in _postings(*r)])
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('vocabulary', ?)", (want,))

    def _sync_rules(self) -> None:
        """Mark every source as changed when the store's facts were read with other rules (`RULES`)."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'rules'").fetchone()
        if row is not None and row[0] == RULES:
            return
        with self.transaction():
            self._db.execute("UPDATE sources SET sha256 = ''")
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('rules', ?)", (RULES,))

    def _add_postings(self, postings: list[tuple[str, str, float, int, int]]) -> None:
        """Insert postings and count them in `term_df` (so that term rarity is one lookup)."""
        self._db.executemany(
            "INSERT OR IGNORE INTO fact_terms (term, uclass, value, fact_id, near) VALUES (?, ?, ?, ?, ?)", postings
        )
        counts = Counter((p[0], p[1]) for p in postings)
        self._db.executemany(
            "INSERT INTO term_df (term, uclass, n) VALUES (?, ?, ?) "
            "ON CONFLICT (term, uclass) DO UPDATE SET n = term_df.n + excluded.n",
            [(t, c, n) for (t, c), n in counts.items()],
        )

    def _remove_postings(self, postings: list[tuple[str, str, float, int, int]]) -> None:
        self._db.executemany(
            "DELETE FROM fact_terms WHERE term = ? AND uclass = ? AND value = ? AND fact_id = ?",
            [p[:4] for p in postings],
        )
        counts = Counter((p[0], p[1]) for p in postings)
        self._db.executemany(
            "UPDATE term_df SET n = n - ? WHERE term = ? AND uclass = ?", [(n, t, c) for (t, c), n in counts.items()]
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> FactStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing writes; nests (savepoints), so several imports can form one transaction."""
        with self._lock:
            depth = self._depth
            self._db.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT sp{depth}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth = depth
                if depth == 0:
                    self._db.execute("ROLLBACK")
                else:
                    self._db.execute(f"ROLLBACK TO sp{depth}")
                    self._db.execute(f"RELEASE sp{depth}")
                self._forget()
                raise
            self._depth = depth
            self._db.execute("COMMIT" if depth == 0 else f"RELEASE sp{depth}")
            self._forget()

    def _forget(self) -> None:
        """Drop read caches after a write (or a rollback)."""
        self._term_counts.clear()
        self._fact_cache.clear()
        self._generation += 1

    @contextmanager
    def memoized(self) -> Iterator[None]:
        """Within the block, on this thread, a candidate lookup asked again returns what it returned.

        A check asks the same lookup several times: for the numbers of one clause, and again when it
        recomputes a derived figure; a third of its queries were repeats. The memo lives for one
        check only (a second check asks SQLite again, so a warm store is not a cache of answers), and
        a write on any thread empties it.
        """
        self._local.lookups = (self._generation, {})
        try:
            yield
        finally:
            self._local.lookups = None

    # -- imports --------------------------------------------------------------------------------

    def import_path(self, path: str | Path) -> ImportResult:
        """Import a text file, a facts.yaml, or a folder (its text files, and its facts.yaml if any).

        One transaction: if any file is bad, nothing of this call is kept and FactsError names the file.
        """
        p = Path(path)
        if not p.exists():
            raise FactsError(f"{p}: no such file or folder")
        if p.is_file() and p.suffix.lower() in (".yaml", ".yml"):
            return self.load_curated(p)
        result = ImportResult()
        files = list(iter_source_files(p))
        with _rows_in_parallel(files) as rows, self.transaction():
            for f, found in zip(files, rows, strict=True):
                result.add(self._import_file(f, found))
            if p.is_dir():
                for name in CURATED_NAMES:
                    if (p / name).is_file():
                        result.add(self.load_curated(p / name))
        return result

    def import_text(self, text: str, *, title: str, url: str, date: str = "") -> int:
        """Import text the pipeline has in hand (a search snippet, a fetched page). Returns facts added.

        The URL identifies the source: importing other text for the same URL replaces its facts
        (a fetched page supersedes its snippet); the same text again is a no-op.
        """
        if not url:
            raise FactsError(f"import_text({title!r}): a url is required, it identifies the source")
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with self.transaction():
            origin = "text:" + url
            if not self._replace_origin(origin, sha):
                return 0
            sid = self._insert_source(origin, "text", title, url, date, sha)
            return self._insert_facts(sid, _rows_from_text(text, 0))

    def load_curated(self, path: str | Path) -> ImportResult:
        """Import a curated facts.yaml (see `parse_curated`); errors name the file, line and field."""
        p = Path(path)
        data = _read_limited(p)
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:  # already stored unchanged: skip the YAML parse (~0.5 s of CPU for 150 facts)
            row = self._db.execute("SELECT sha256 FROM sources WHERE origin = ? LIMIT 1", (str(p.resolve()),)).fetchone()
        if row is not None and row[0] == sha:
            return ImportResult(unchanged=1, paths=[str(p)])
        text, _ = _decode(data, p)
        items = parse_curated(text, str(p))
        # A `source` that is a document's file name (beside this facts.yaml) stands for that document's
        # URL as its own import records it: the `url` of its front matter, else its file:// address.
        doc_urls: dict[str, str] = {}
        for i, item in enumerate(items):
            if not _URL_RE.match(item.source) and item.source not in doc_urls:
                try:
                    doc_urls[item.source] = read_document(p.parent / item.source).url
                except DocumentError as exc:
                    line = text.count("\n", 0, item.offset) + 1
                    raise FactsError(f"{p}:{line}: facts[{i}].source: {exc}") from None
        result = ImportResult(paths=[str(p)])
        with self.transaction():
            origin = str(p.resolve())
            if not self._replace_origin(origin, sha):
                result.unchanged += 1
                return result
            by_url: dict[str, list[FactRow]] = {}
            for item in items:
                by_url.setdefault(doc_urls.get(item.source, item.source), []).append(_curated_row(item))
            for url, rows in by_url.items():
                sid = self._insert_source(origin, "curated", "", url, "", sha)
                result.facts += self._insert_facts(sid, rows)
            result.imported += 1
        return result

    def _import_file(self, f: Path, rows: list[FactRow] | None = None) -> ImportResult:
        try:
            doc = read_document(f)
        except DocumentError as exc:
            raise FactsError(str(exc)) from None
        sha = hashlib.sha256(f.read_bytes()).hexdigest()
        origin = str(f.resolve())
        if not self._replace_origin(origin, sha):
            return ImportResult(unchanged=1, paths=[str(f)])
        date = doc.meta.get("date") or ""
        if isinstance(date, _dt.date):
            date = date.isoformat()
        sid = self._insert_source(origin, "file", doc.title, doc.url, str(date), sha)
        n = self._insert_facts(sid, rows if rows is not None else _rows_from_text(doc.body, doc.body_offset))
        return ImportResult(imported=1, facts=n, paths=[str(f)])

    def _replace_origin(self, origin: str, sha: str) -> bool:
        """False when `origin` is stored with this sha256 (nothing to do); else clears it for re-import."""
        row = self._db.execute("SELECT sha256 FROM sources WHERE origin = ? LIMIT 1", (origin,)).fetchone()
        if row is not None and row[0] == sha:
            return False
        if row is not None:
            ids = "SELECT id FROM sources WHERE origin = ?"
            old = self._db.execute(
                f"SELECT id, value, value_hi, uclass, near, names, terms FROM facts WHERE source_id IN ({ids})", (origin,)
            ).fetchall()
            self._remove_postings([p for r in old for p in _postings(*r)])
            self._db.execute(f"DELETE FROM facts WHERE source_id IN ({ids})", (origin,))
            self._db.execute("DELETE FROM sources WHERE origin = ?", (origin,))
        return True

    def _insert_source(self, origin: str, kind: str, title: str, url: str, date: str, sha: str) -> int:
        now = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        cur = self._db.execute(
            "INSERT INTO sources (origin, kind, title, url, date, sha256, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (origin, kind, title, url, date, sha, now),
        )
        assert cur.lastrowid is not None  # an INSERT into a table with an integer key always sets it
        return cur.lastrowid

    def _insert_facts(self, source_id: int, rows: list[FactRow]) -> int:
        """Insert fact rows (see `_rows_from_text`) and their near-term postings."""
        if not rows:
            return 0
        first = self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM facts").fetchone()[0]
        facts, postings = [], []
        for i, row in enumerate(rows):
            fid = first + i
            facts.append((fid, source_id, *row, sentence_key(row[9])))
            postings.extend(_postings(fid, row[0], row[1], row[3], row[10], row[17], row[11]))
        self._db.executemany(
            "INSERT INTO facts (id, source_id, value, value_hi, unit, uclass, approx, bound, step, sig_step, "
            'text, sentence, near, terms, times, start, "end", role, head, names, sterms, skey) '
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            facts,
        )
        self._add_postings(postings)
        return len(rows)

    # -- reading ----------------------------------------------------------------------------------

    def count(self) -> tuple[int, int]:
        """(sources, facts)."""
        with self._lock:
            s = self._db.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
            f = self._db.execute("SELECT COUNT(*) FROM facts").fetchone()[0]
        return s, f

    def list_sources(self) -> list[SourceInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.kind, s.title, s.url, s.date, s.origin, "
                "(SELECT COUNT(*) FROM facts f WHERE f.source_id = s.id) FROM sources s ORDER BY s.id"
            ).fetchall()
        return [SourceInfo(*r) for r in rows]

    def search(self, word: str, limit: int = 50) -> list[Fact]:
        """Facts whose value equals `word` when it is a quantity ("4550亿美元"), else whose sentence,
        source or referent terms contain it."""
        word = word.strip()
        if not word:
            return []
        q = parse_quantity(word)
        with self._lock:
            if q is not None:
                lo, hi = sorted((q.value - q.step / 2, q.value + q.step / 2))
                rows = self._db.execute(
                    f"SELECT {_FACT_COLUMNS} FROM facts f JOIN sources s ON s.id = f.source_id "
                    "WHERE f.uclass = ? AND f.value BETWEEN ? AND ? ORDER BY f.id LIMIT ?",
                    (unit_class(q.unit), lo, hi, limit),
                ).fetchall()
            else:
                like = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                rows = self._db.execute(
                    f"SELECT {_FACT_COLUMNS} FROM facts f JOIN sources s ON s.id = f.source_id "
                    "WHERE f.sentence LIKE ?1 ESCAPE '\\' OR f.terms LIKE ?2 ESCAPE '\\' "
                    "OR s.title LIKE ?1 ESCAPE '\\' ORDER BY f.id LIMIT ?3",
                    (like, "%" + word.lower() + "%", limit),
                ).fetchall()
        return [_fact(r) for r in rows]

    def candidates(
        self,
        terms: Iterable[str],
        uclasses: Iterable[str] | None,
        lo: float | None = None,
        hi: float | None = None,
        limit: int = 40,
        always: Iterable[str] = (),
    ) -> list[Fact]:
        """The facts that share the most of `terms` (clause words count double), of these unit classes
        (None: any), with a value (or range end) in [lo, hi] when given; at most `limit`, best first.
        `always`: terms (the claim's metric words) that find candidates however common, up to TERM_CAP.

        Why a limit: a check looks at the statements most like the claim, not at every fact that
        shares a word with it; ranking in SQL keeps a check flat in the size of the store. Terms on
        more than TERM_CAP facts are not used to find candidates (they name nothing in particular).
        """
        key = (frozenset(terms), None if uclasses is None else frozenset(uclasses), lo, hi, limit, frozenset(always))
        held: tuple[int, dict[tuple[object, ...], list[Fact]]] | None = getattr(self._local, "lookups", None)
        memo = None
        if held is not None:
            if held[0] != self._generation:  # written since: start afresh
                held = self._local.lookups = (self._generation, {})
            memo = held[1]
            if key in memo:
                return list(memo[key])
        found = self._candidates(*key)
        if memo is not None:
            memo[key] = found
        return found

    def _candidates(
        self, terms: frozenset[str], uclasses: frozenset[str] | None, lo: float | None, hi: float | None, limit: int,
        always: frozenset[str],
    ) -> list[Fact]:
        with self._lock:
            classes = sorted(uclasses) if uclasses is not None else None
            by_df = sorted((self._df(t, classes), t) for t in terms)
            # the rarest few name the claim's subject and metric best, and bound the rows read
            rare = [t for n, t in by_df if 0 < n <= TERM_CAP][:LOOKUP_TERMS]
            rare += [t for t in sorted(always - set(rare)) if 0 < self._df(t, classes) <= TERM_CAP]
            if not rare:
                return []
            where = [f"term IN ({','.join('?' * len(rare))})"]
            params: list[object] = list(rare)
            if classes is not None:
                where.append(f"uclass IN ({','.join('?' * len(classes))})")
                params.extend(classes)
            if lo is not None and hi is not None:
                where.append("value BETWEEN ? AND ?")
                params.extend((lo, hi))
            sql = (
                f"SELECT fact_id FROM fact_terms WHERE {' AND '.join(where)} "
                "GROUP BY fact_id ORDER BY COUNT(DISTINCT term) + SUM(near) DESC, fact_id LIMIT ?"
            )
            ids = [r[0] for r in self._db.execute(sql, (*params, limit))]
            return self._facts_by_id(ids)

    def by_value(self, uclasses: Iterable[str], lo: float, hi: float, limit: int = 12) -> list[Fact]:
        """Facts of these unit classes with a value in [lo, hi], whatever their words: a figure of
        three or more significant digits is itself a key ("产钢3082万吨" for "钢产量3,082万吨")."""
        with self._lock:
            classes = sorted(set(uclasses))
            sql = (
                f"SELECT id FROM facts WHERE uclass IN ({','.join('?' * len(classes))}) "
                "AND value BETWEEN ? AND ? LIMIT ?"
            )
            ids = [r[0] for r in self._db.execute(sql, (*classes, lo, hi, limit))]
            return self._facts_by_id(ids)

    def facts_of_sentence(self, key: str) -> list[Fact]:
        """The facts whose sentence has this `sentence_key` (a report sentence that quotes a source)."""
        if not key:
            return []
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM facts WHERE skey = ? LIMIT 50", (key,))]
            return self._facts_by_id(ids)

    def sentence_facts(self, fact_id: int) -> list[Fact]:
        """The facts of the sentence that holds fact `fact_id` (imported together: ids close by)."""
        with self._lock:
            row = self._db.execute("SELECT source_id, sentence FROM facts WHERE id = ?", (fact_id,)).fetchone()
            if row is None:
                return []
            ids = [
                r[0]
                for r in self._db.execute(
                    "SELECT id FROM facts WHERE id BETWEEN ? AND ? AND source_id = ? AND sentence = ?",
                    (fact_id - 40, fact_id + 40, row[0], row[1]),
                )
            ]
            return self._facts_by_id(ids)

    def prefetch_terms(self, terms: Iterable[str]) -> None:
        """Read the posting counts of many terms in one query (a check asks for thousands)."""
        with self._lock:
            todo = sorted({t for t in terms if t not in self._term_counts})
            for k in range(0, len(todo), 500):
                chunk = todo[k : k + 500]
                for t in chunk:
                    self._term_counts[t] = {}
                marks = ",".join("?" * len(chunk))
                for term, uclass, n in self._db.execute(
                    f"SELECT term, uclass, n FROM term_df WHERE term IN ({marks})", chunk
                ):
                    self._term_counts[term][uclass] = n

    def _df(self, term: str, uclasses: list[str] | None) -> int:
        """How many postings `term` has in these unit classes (None: all)."""
        if term not in self._term_counts:
            self.prefetch_terms([term])
        counts = self._term_counts[term]
        if uclasses is None:
            return sum(counts.values())
        return sum(counts.get(u, 0) for u in uclasses)

    def _facts_by_id(self, ids: list[int]) -> list[Fact]:
        missing = [i for i in ids if i not in self._fact_cache]
        for k in range(0, len(missing), 500):
            chunk = missing[k : k + 500]
            marks = ",".join("?" * len(chunk))
            for r in self._db.execute(
                f"SELECT {_FACT_COLUMNS} FROM facts f JOIN sources s ON s.id = f.source_id WHERE f.id IN ({marks})",
                chunk,
            ):
                self._fact_cache[r[0]] = _fact(r)
        return [self._fact_cache[i] for i in ids if i in self._fact_cache]


# -- rows -----------------------------------------------------------------------------------------


def _joined(words: Iterable[str]) -> str:
    """A word set as a column holds it: sorted, joined by blanks."""
    return " ".join(sorted(words))


def _fact(r: Row) -> Fact:
    """A Fact from a row of _FACT_COLUMNS (in the order of its fields), without running the frozen
    dataclass's __init__ (21 guarded assignments): a fresh check builds thousands of them."""
    f = object.__new__(Fact)
    f.__dict__.update(zip(_FACT_FIELDS, r, strict=True))
    f.__dict__["approx"] = bool(r[5])
    return f


def _postings(
    fid: int, value: float, value_hi: float | None, uclass: str, near: str, names: str, terms: str = ""
) -> list[tuple[str, str, float, int, int]]:
    """Rows of `fact_terms` for one fact, at its value and at its range end if any.

    Only the terms a check looks facts up by get a posting: the terms of the number's clause and the
    names of its sentence (see `check.judge`); the other words only score candidates. A clause and
    sentence without either ("…，一年提高了23个百分点") is found by its sentence's terms.
    """
    near_set = set(near.split())
    if not near_set and not names.strip():
        near_set = set(terms.split())
    out = [(t, uclass, value, fid, 1) for t in sorted(near_set)]
    out += [(t, uclass, value, fid, 0) for t in sorted(set(names.split()) - near_set)]
    if len(near_set) <= 1 and not names.strip():
        # "…，明年增速将放缓至15%-20%": a clause of one word is found by its sentence's words too (not
        # every clause without a lexicon metric word: that tripled the postings and the time of a check)
        out += [(t, uclass, value, fid, 0) for t in sorted(set(terms.split()) - near_set)]
    if value_hi is not None and value_hi != value:
        out += [(t, uclass, value_hi, fid, n) for t, _, _, _, n in out]
    return out


#: What a report adds around a quoted sentence: citation, ⚠ and list markers, emphasis and blanks.
MARKUP = r"\[\d{1,3}\]|⚠|^\s*(?:[-*+]|\d{1,2}[.、])\s+|[\s*_`>#]"
#: A short label a report may put before a quote ("基准：…").
LABEL = re.compile(r"^[^，,。：:]{1,6}[：:]")
_KEY_MARKUP = re.compile(MARKUP + r"|[|，,。；;：:、“”\"'（）()]")


def sentence_key(sentence: str) -> str:
    """A key under which a sentence and its quotation meet: citation and list markers, a short label
    ("基准：") and punctuation and blanks left out. Short sentences get none (too easy to repeat)."""
    bare = LABEL.sub("", sentence.strip(), count=1)
    bare = _KEY_MARKUP.sub("", bare)
    if len(bare) < 12:
        return ""
    return hashlib.sha1(bare.encode("utf-8")).hexdigest()[:16]


# One fact as `_compute_rows` and `_curated_row` make it: the columns of `facts` after (id, source_id),
# value, value_hi, unit, uclass, approx, bound, step, sig_step, text, sentence, near, terms, times,
# start, end, role, head, names, sterms.
FactRow: TypeAlias = tuple[
    float, float | None, str, str, int, str, float, float, str, str, str, str, str, int, int, str, str, str, str
]

PARALLEL_FILES = 32  # a folder of at least this many files is read by one process per core


def _file_rows(f: Path) -> list[FactRow] | None:
    """Fact rows of one source file (None when it cannot be read: the import then names the error)."""
    try:
        doc = read_document(f)
    except (DocumentError, OSError):
        return None
    return _compute_rows(doc.body, doc.body_offset)


@contextmanager
def _rows_in_parallel(files: list[Path]) -> Iterator[Iterator[list[FactRow] | None]]:
    """The fact rows of each file, in file order (None: compute them here).

    Extraction and referents are pure CPU work per file: with several cores, a folder of at least
    PARALLEL_FILES files is read by worker processes (forked, so nothing is re-imported) while this
    one writes, in file order, in one transaction, each file as soon as its rows arrive (writing
    after all were read left the cores idle for a third of an import). The work is handed out before
    the caller's transaction begins; leaving the block early (a bad file) cancels what is left.
    """
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(os.cpu_count() or 1, 8)
    pool = None
    if len(files) >= PARALLEL_FILES and workers >= 2 and "fork" in multiprocessing.get_all_start_methods():
        try:
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
            found = pool.map(_file_rows, files, chunksize=max(1, min(16, len(files) // (workers * 8))))
        except (OSError, RuntimeError):  # no processes to be had: read them here
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            pool = None
    if pool is None:
        yield iter([None] * len(files))
        return
    try:
        yield found
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _rows_from_text(text: str, offset: int) -> list[FactRow]:
    """Fact rows for every claim of `text`; offsets are shifted by `offset` (front matter)."""
    return list(_cached_rows(text, offset))


def prepare_rows(text: str, offset: int = 0) -> None:
    """Compute (and cache) the fact rows of `text` without touching any store: the pipeline calls it
    on a background thread for sources it will import later, so the import itself is quick and still
    happens in a fixed order (fact ids decide ties between equally good evidence)."""
    _cached_rows(text, offset)


@lru_cache(maxsize=512)
def _cached_rows(text: str, offset: int) -> tuple[FactRow, ...]:
    return tuple(_compute_rows(text, offset))


def _compute_rows(text: str, offset: int) -> list[FactRow]:
    rows: list[FactRow] = []
    refs = TextReferents(text, carry_names=True, lead=True)
    for c in extract_claims(text):
        r = refs.referent(c.start, c.end, c.unit)
        rows.append(
            (
                c.value,
                c.value_hi,
                c.unit,
                unit_class(c.unit),
                int(c.approx),
                c.bound,
                c.step,
                c.sig_step,
                c.text,
                r.sentence,
                _joined(r.near),
                _joined(r.terms),
                _joined(r.times),
                offset + c.start,
                offset + c.end,
                r.role,
                _joined(r.head),
                _joined(r.names),
                _joined(sentence_terms(r.sentence)),
            )
        )
    return rows


def _curated_row(item: _CuratedFact) -> FactRow:
    q = parse_quantity(item.written)
    assert q is not None  # checked by parse_curated
    label = f"{item.entity} {item.metric}"
    terms = set(terms_of(item.entity)) | set(terms_of(item.metric))
    for alias in item.aliases:
        terms |= terms_of(alias)
    sentence = item.quote or f"{label}：{item.written}" + (f"（截至 {item.as_of}）" if item.as_of else "")
    metric_terms = terms_of(item.metric)
    names = {t for t in terms if is_named(t)}
    role = role_of(f"{item.metric}{item.written}", len(item.metric), len(item.metric) + len(item.written), q.unit)
    times = times_of(f"{item.metric} {item.quote}") | {"y" + y for y in re.findall(r"(?:19|20)[0-9]{2}", item.as_of)}
    joined = _joined(terms)
    return (
        q.value,
        q.value_hi,
        q.unit,
        unit_class(q.unit),
        int(q.approx),
        q.bound,
        q.step,
        q.sig_step,
        item.written,
        sentence,
        joined,  # a curated fact is about its entity and metric as a whole: all terms are near
        joined,
        _joined(times),
        item.offset,
        item.offset,
        role,
        _joined(metric_terms),
        _joined(names),
        _joined(sentence_terms(sentence)),
    )


# -- facts.yaml --------------------------------------------------------------------------------------


def _read_limited(p: Path) -> bytes:
    try:
        size = p.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise FactsError(f"{p}: {size / 1e6:.1f} MB is over the {MAX_DOCUMENT_BYTES / 1e6:.0f} MB limit")
        return p.read_bytes()
    except OSError as exc:
        raise FactsError(f"{p}: cannot read: {exc.strerror or exc}") from None


def _decode(data: bytes, p: Path) -> tuple[str, str]:
    try:
        return decode_bytes(data, str(p))
    except DocumentError as exc:
        raise FactsError(str(exc)) from None


def parse_curated(text: str, name: str = "facts.yaml") -> list[_CuratedFact]:
    """Validate a facts.yaml; every error names the file, the line and the field.

    Shape: `facts:` followed by a list of mappings with `entity`, `metric`, `value` (a YAML number),
    `unit` (parsed with the value like report text: "亿美元", "%", "万张"), `source` (an http(s) URL, or
    the file name of a document beside the facts.yaml, e.g. `10-hbm-supply.md`, for one without a URL),
    and optionally `as_of`, `aliases` (list of names), `value_hi` (range end), `approx` (bool) and
    `quote` (the source's sentence, shown as evidence). Other keys are ignored.
    """
    import yaml  # here, not at the top: a check that reads no facts.yaml does not pay for the import

    try:
        # libyaml when available: the pure-Python parser took ~0.3 s per run for the shipped facts.yaml.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        root = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise FactsError(f"{name}:{line}: malformed YAML: {problem}") from None
    if root is None:
        return []

    def line_of(node: yaml.Node) -> int:
        return node.start_mark.line + 1

    if isinstance(root, yaml.MappingNode) and isinstance(data, dict):
        key_nodes = {k.value: v for k, v in root.value}
        if "facts" not in data:
            raise FactsError(f"{name}:{line_of(root)}: missing top-level 'facts:' list")
        seq_node, seq = key_nodes["facts"], data["facts"]
    else:
        seq_node, seq = root, data
    if seq is None:
        return []
    if not isinstance(seq, list) or not isinstance(seq_node, yaml.SequenceNode):
        raise FactsError(f"{name}:{line_of(seq_node)}: 'facts' must be a list of facts")

    out = []
    for i, (node, item) in enumerate(zip(seq_node.value, seq, strict=True)):
        where = f"facts[{i}]"
        if not isinstance(item, dict) or not isinstance(node, yaml.MappingNode):
            raise FactsError(f"{name}:{line_of(node)}: {where} must be a mapping (entity, metric, value, unit, source)")
        lines = {k.value: line_of(v) for k, v in node.value}

        def fail(
            key: str, msg: str, *, _lines: dict[str, int] = lines, _node: yaml.Node = node, _where: str = where
        ) -> FactsError:
            return FactsError(f"{name}:{_lines.get(key, line_of(_node))}: {_where}.{key}: {msg}")

        def text_field(key: str, *, required: bool = True, _item: dict[str, object] = item) -> str:
            v = _item.get(key)
            if v is None:
                if required:
                    raise fail(key, "missing")
                return ""
            if not isinstance(v, str) or not v.strip():
                raise fail(key, f"expected non-empty text, got {_describe(v)}")
            return v.strip()

        entity = text_field("entity")
        metric = text_field("metric")
        value = item.get("value")
        if value is None:
            raise fail("value", "missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail("value", f"expected a number, got {_describe(value)}")
        unit = text_field("unit")
        source = text_field("source")
        doc = Path(source)
        is_doc = doc.suffix.lower() in TEXT_SUFFIXES and not doc.is_absolute() and ".." not in doc.parts
        if not _URL_RE.match(source) and not is_doc:
            raise fail("source", f"expected an http(s) URL or a document's file name, got {source!r}")
        as_of = item.get("as_of")
        if as_of is None:
            as_of_text = ""
        elif isinstance(as_of, _dt.date | str | int) and not isinstance(as_of, bool):
            as_of_text = as_of.isoformat() if isinstance(as_of, _dt.date) else str(as_of)
        else:
            raise fail("as_of", f"expected a date like 2025-08-31, got {_describe(as_of)}")
        aliases = item.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise fail("aliases", f"expected a list of names, got {_describe(aliases)}")
        approx = item.get("approx", False)
        if not isinstance(approx, bool):
            raise fail("approx", f"expected true or false, got {_describe(approx)}")
        quote = text_field("quote", required=False)
        written = ("约" if approx else "") + decimal_text(value) + unit
        value_hi = item.get("value_hi")
        if value_hi is not None:
            if isinstance(value_hi, bool) or not isinstance(value_hi, int | float) or value_hi < value:
                raise fail("value_hi", f"expected a number not below value, got {_describe(value_hi)}")
            written = ("约" if approx else "") + decimal_text(value) + "-" + decimal_text(value_hi) + unit
        if parse_quantity(written) is None:
            raise fail("unit", f"{unit!r} with value {decimal_text(value)} is not a quantity yanbao understands")
        out.append(_CuratedFact(entity, metric, written, as_of_text, source, aliases, quote, node.start_mark.index))
    return out


def _describe(v: object) -> str:
    if isinstance(v, str):
        return f"text {v!r}"
    return f"{type(v).__name__} {v!r}"
