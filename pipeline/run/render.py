"""Rendering: the Jinja environment over `templates/`, escaping of untrusted text, atomic writes.

Templates own the layout. Text that came from the web (titles, URLs, snippets) is escaped here so it
cannot open a heading, a link or an HTML tag in the report; text the model wrote is flattened to a
single line per bullet for the same reason.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.kinds.folders import TEMPLATES_DIR, template_dirs

__all__ = ["SECTION_MARK", "TEMPLATES_DIR", "environment", "md_inline", "md_line", "md_text", "md_url", "render", "slugify", "write_atomic"]

#: What `{{ section() }}` writes where a part of the report starts (a digest's item), at the start of a
#: line of text; `render_sections` gives the places and takes the marks out. A control character: the
#: filters strip those from every text that comes from outside, so nothing else can pose as one.
SECTION_MARK = "\x1e"
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|!])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def md_inline(text: object) -> str:
    """Untrusted text as one inert markdown line: no headings, links, emphasis, tags or table cells."""
    s = _CONTROL.sub("", str(text or ""))
    s = re.sub(r"\s+", " ", s).strip()
    return _MD_SPECIAL.sub(r"\\\1", s)


def md_url(url: object) -> str:
    """A URL safe to print: only http(s) and file URLs, with characters that end markdown links escaped."""
    s = _CONTROL.sub("", str(url or "")).strip()
    if not re.match(r"^(https?|file)://", s, re.IGNORECASE):
        return "（无效链接）"
    return s.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def md_text(text: object) -> str:
    """Model-written prose: paragraphs kept, but no line may start a heading, a table or a block quote,
    and raw HTML tags are escaped."""
    s = _CONTROL.sub("", str(text or "")).replace("\r\n", "\n")
    s = s.replace("<", "&lt;").replace(">", "&gt;")
    lines = []
    for line in s.split("\n"):
        line = line.strip()
        line = re.sub(r"^(#{1,6}|[|>=]+|-{3,}|\*{3,}|`{3,})\s*", "", line)
        lines.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def md_line(text: object) -> str:
    """Model-written bullet or title: one line, otherwise as `md_text`."""
    return re.sub(r"\s*\n\s*", " ", md_text(text))


def environment() -> Environment:
    """The report templates: the project's `templates/`, then each registered kind's own folder."""
    return _environment(template_dirs())


@lru_cache(maxsize=4)
def _environment(dirs: tuple[Path, ...]) -> Environment:
    env = Environment(
        loader=FileSystemLoader([str(d) for d in dirs]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    from pipeline.facts.check import format_value

    env.filters.update(md_inline=md_inline, md_url=md_url, md_text=md_text, md_line=md_line, fmt_value=format_value)
    env.globals["section"] = lambda: SECTION_MARK
    return env


def render(template: str, **context: object) -> str:
    return render_sections(template, **context)[0]


def render_sections(template: str, **context: object) -> tuple[str, list[int]]:
    """The report, and where each of its sections starts in it (the places of `{{ section() }}`), so
    that code can tell which part of the report a claim of the facts check stands in without looking
    for text in the markdown (the digest's stars count each item's claims)."""
    text = re.sub(r"\n{3,}", "\n\n", environment().get_template(template).render(**context))
    parts = text.split(SECTION_MARK)
    starts, at = [], 0
    for part in parts[:-1]:
        at += len(part)
        starts.append(at)
    return "".join(parts), starts


def slugify(topic: str, max_len: int = 60) -> str:
    """A file-name-safe slug that keeps Chinese. It cannot contain a path separator or '..', so it can
    never leave the output folder."""
    s = unicodedata.normalize("NFKC", topic)
    s = "".join(ch if (ch.isalnum() or ch in "-_") else "-" for ch in s)
    s = re.sub(r"-{2,}", "-", s).strip("-_.").lower()
    s = s[:max_len].strip("-_.")
    return s or "report"


def current_umask() -> int:
    """The process umask, read without changing it (Linux: /proc/self/status). Elsewhere it is set and
    restored, which is only safe while no other thread creates files, so that reading is done once."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _fallback_umask()


@lru_cache(maxsize=1)
def _fallback_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, then rename over the target: readers see the old
    file or the new one, never half of one. The file's mode is 0666 minus the umask (0644 under the
    usual 022), as for a file created with `open(path, "w")`; `mkstemp` alone would leave 0600, which the
    group that publishes the reports cannot read. A replaced file gets that mode too (a scheduled job's
    report written 0600 by an older version becomes readable on its next run)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
