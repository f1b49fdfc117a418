"""Topics given on the command line: how many each kind takes, and `--topics-file`.

`yanbao run` takes one topic, except a batch kind such as `--kind commentary`, which writes one article
per topic (given as several arguments or in a file): the kind says so (`pipeline.kinds.Kind.run_batch`).
Every rule here fails with one line naming what is wrong (exit 2).
"""

from __future__ import annotations

from pathlib import Path

MAX_TOPICS = 50  # a batch larger than this is a mistake (a wrong file), not a day's column
MAX_TOPICS_FILE_BYTES = 256 * 1024


def _bad(message: str) -> Exception:
    from pipeline.run.runner import BadInput

    return BadInput(message)


def read_topics_file(path: Path) -> list[str]:
    """One topic per line; blank lines and lines starting with `#` are ignored (so is a `#` comment
    after a topic when it follows a blank: `H200出口许可  # 周一`). UTF-8 or GB18030."""
    from pipeline.documents import DocumentError, decode_bytes

    try:
        if not path.is_file():
            raise _bad(f"topics file not found: {path}")
        if path.stat().st_size > MAX_TOPICS_FILE_BYTES:
            raise _bad(f"topics file {path} is over {MAX_TOPICS_FILE_BYTES // 1024} KB; one topic per line")
        text, _ = decode_bytes(path.read_bytes(), str(path))
    except OSError as exc:
        raise _bad(f"topics file {path} cannot be read: {exc.strerror or exc}") from None
    except DocumentError as exc:
        raise _bad(f"topics file {exc}") from None
    topics: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for sep in (" #", "\t#"):
            if sep in line:
                line = line.split(sep, 1)[0].strip()
        if line and line not in topics:
            topics.append(line)
    if not topics:
        raise _bad(f"topics file {path} has no topics (one per line; # starts a comment)")
    return topics


def check_topics(kind: str, topics: list[str], topics_file: Path | None) -> list[str]:
    """The run's topics in order (arguments first, then the file), checked against the kind."""
    from pipeline import kinds

    try:
        spec = kinds.get(kind)
    except kinds.KindError as exc:
        raise _bad(str(exc)) from None
    if topics_file is not None:
        if not spec.run_batch:
            batch = ", ".join(f"--kind {n}" for n in kinds.run_batch_names())
            raise _bad(f"--topics-file is for {batch}, not --kind {kind}")
        topics = [*topics, *(t for t in read_topics_file(topics_file) if t not in topics)]
    if len(topics) > 1 and not spec.run_batch:
        hint = spec.several_hint or kinds.several_topics_hint()
        raise _bad(f"--kind {kind} takes one topic, got {len(topics)}; {hint}")
    if len(topics) > MAX_TOPICS:
        raise _bad(f"{len(topics)} topics; the limit is {MAX_TOPICS} per run")
    return topics
