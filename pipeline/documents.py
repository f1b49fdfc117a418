"""Reading source documents: decoding and YAML front matter.

Shared by the local search index and the facts importer, so that both see a file the same way:
UTF-8 first, then GB18030 (which also covers GBK and GB2312 files from Chinese Windows tools), and a
file with NUL bytes is binary and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_DOCUMENT_BYTES = 20 * 1024 * 1024  # a source larger than this is refused, not read into memory
TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text"}


class DocumentError(Exception):
    """A document cannot be used. The message names the file (and the line, for front matter)."""


@dataclass
class Document:
    path: Path
    body: str
    meta: dict[str, object] = field(default_factory=dict)  # the YAML front matter
    encoding: str = "utf-8"
    body_offset: int = 0  # where `body` starts in the decoded file text

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or self.path.stem)

    @property
    def url(self) -> str:
        return str(self.meta.get("url") or self.path.resolve().as_uri())


def decode_bytes(data: bytes, name: str = "<bytes>") -> tuple[str, str]:
    """Decode text bytes; returns (text, encoding). Raises DocumentError for binary data."""
    if b"\x00" in data[:8192]:
        raise DocumentError(f"{name}: binary file (contains NUL bytes), not a text document")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{name}: neither UTF-8 nor GB18030 text ({exc.reason} at byte {exc.start})") from None


def split_front_matter(text: str, name: str = "<text>") -> tuple[dict[str, object], str, int]:
    """Split `---` YAML front matter from the body. Returns (meta, body, body_offset)."""
    if not text.startswith("---"):
        return {}, text, 0
    first_nl = text.find("\n")
    if first_nl < 0 or text[:first_nl].strip() != "---":
        return {}, text, 0
    end = text.find("\n---", first_nl)
    if end < 0:
        raise DocumentError(f"{name}: front matter opened with '---' on line 1 but never closed")
    block = text[first_nl + 1 : end]
    import yaml  # here, not at the top: `yanbao check` of a report with no front matter never needs it

    # libyaml's loader when PyYAML was built with it: the pure-Python one costs ~10 ms per front matter.
    try:
        meta: object = yaml.load(block, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise DocumentError(f"{name}:{line}: malformed front matter: {problem}") from None
    if not isinstance(meta, dict):
        raise DocumentError(f"{name}:2: front matter must be a mapping of fields, got {type(meta).__name__}")
    after = text.find("\n", end + 1)
    offset = len(text) if after < 0 else after + 1
    return meta, text[offset:], offset


def read_document(path: str | Path, max_bytes: int = MAX_DOCUMENT_BYTES) -> Document:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DocumentError(
                f"{path}: {size / 2**20:.1f} MiB is over the {max_bytes / 2**20:.0f} MiB limit for one source document"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror or exc}") from None
    text, encoding = decode_bytes(data, str(path))
    meta, body, offset = split_front_matter(text, str(path))
    return Document(path=path, body=body, meta=meta, encoding=encoding, body_offset=offset)


def iter_source_files(root: str | Path) -> list[Path]:
    """Text documents below `root`, sorted for determinism. Dot files and a folder's README (which
    describes the collection rather than being a source) are left out."""
    root = Path(root)
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in TEXT_SUFFIXES
        and p.stem.lower() != "readme"
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
