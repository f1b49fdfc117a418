"""Publishing a finished report: the markdown (optionally with YAML front matter) and a standalone HTML page.

The runner calls `publish_report` once the report text is final. Every file is written atomically, so a
scheduled job that re-runs replaces its own report in one step and a reader never sees half of one.

HTML safety. Reports quote the web (titles, URLs, snippets). The templates already escape that text,
but the HTML page does not rely on it: the markdown is converted, then sanitized by nh3 with an
allow-list (no `<script>`, `<iframe>`, `<svg>`, `<img>`, `<style>`, no event or `style` attributes, links
only to http/https/mailto, `rel="noopener noreferrer"` on every link). The stylesheet and the page
frame are ours and are added after sanitizing; a Content-Security-Policy without script sources is
the second fence.

Citations. Each `[n]` of the text links to entry n of its reference list (`<a href="#ref-n">[n]</a>`,
`<li id="ref-n">`). A reference list is the numbered list right after a heading or a bold line that
says 参考资料 / 参考文献 (research: `### 5. 参考资料`; digest: `## 参考文献与数据来源` per item;
commentary: `**参考资料**` per article). A citation belongs to the first list after it (the article
it is in), or to the last list when none follows (the appendix). With several lists the ids carry the
list's number (`ref-2-3`: list 2, entry 3). A number with no entry stays plain text, and `[n]` escaped
in web text (`\\[n\\]`) or inside code is never linked. The sanitizer lets through exactly these two
attributes: `id` on `li` and a same-page `href` on `a`, both only of the form `ref-…`.

The data check. The tables under `## 数据核验` carry `class="data-check"` (the only class the sanitizer
admits, on `table` only), so the stylesheet keeps their short cells (the figure, its status) on one
line. With the run's check (`checks`), the page also shows every claim's evidence in a `<details>`
block at the end of that section (the appendix is the report's last section), and `publish_report`
writes `<stem>.check.json`: what `yanbao check --json` prints for the markdown as written.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as etree
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import markdown
import nh3
import yaml
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

from pipeline.models import Manifest
from pipeline.run.data_check import evidence_json, evidence_table
from pipeline.run.render import write_atomic

if TYPE_CHECKING:
    from pipeline.facts.check import CheckJSON

MARKDOWN_EXTENSIONS = ["tables", "fenced_code", "sane_lists", "nl2br"]

ALLOWED_TAGS = {
    "h1", "h2", "h3", "h4", "h5", "h6", "p", "br", "hr", "blockquote", "pre", "code",
    "strong", "em", "b", "i", "del", "sup", "sub",
    "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "a", "details", "summary",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "ol": {"start"}, "li": {"id"}, "th": {"colspan", "rowspan"}, "td": {"colspan", "rowspan"},
    "table": {"class"},
}
DATA_CHECK_CLASS = "data-check"  # the one class admitted (on `table`): the 数据核验 tables
URL_SCHEMES = {"http", "https", "mailto"}
_SAFE_HREF = re.compile(r"^(?:https?://|mailto:)", re.IGNORECASE)
_REF_ID = re.compile(r"ref-\d{1,3}(?:-\d{1,3})?")  # a reference entry: ref-3, or ref-2-3 (list 2, entry 3)

# Nothing may load or run except our own inline stylesheet.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'"

STYLESHEET = """
:root { color-scheme: light; --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --head: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body {
  margin: 0 auto; padding: 2.5rem 1.25rem 4rem; max-width: 54rem; color: var(--fg); background: #fff;
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", "PingFang SC", "Hiragino Sans GB",
    "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif;
  font-size: 16px; line-height: 1.8; word-break: break-word; overflow-wrap: anywhere;
}
h1, h2, h3, h4, h5, h6 { line-height: 1.4; margin: 1.8em 0 0.6em; font-weight: 600; }
h1 { font-size: 1.9em; margin-top: 0; padding-bottom: 0.3em; border-bottom: 2px solid var(--line); }
h2 { font-size: 1.45em; padding-bottom: 0.25em; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.2em; }
h4, h5, h6 { font-size: 1.05em; }
p, ul, ol, blockquote, pre, table { margin: 0 0 1em; }
ul, ol { padding-left: 1.6em; }
li + li { margin-top: 0.25em; }
li:target { background: #fff8c5; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
blockquote { margin-left: 0; padding: 0.2em 1em; color: var(--muted); border-left: 4px solid var(--line); }
code { font-family: "SFMono-Regular", Menlo, Consolas, "Noto Sans Mono CJK SC", monospace; font-size: 0.9em;
  background: var(--head); padding: 0.1em 0.35em; border-radius: 4px; }
pre { background: var(--head); padding: 0.9em 1em; overflow-x: auto; border-radius: 6px; }
pre code { background: none; padding: 0; }
hr { border: 0; border-top: 1px solid var(--line); margin: 2em 0; }
table { display: block; width: max-content; max-width: 100%; overflow-x: auto; border-collapse: collapse;
  font-size: 0.92em; line-height: 1.6; }
th, td { border: 1px solid var(--line); padding: 0.45em 0.75em; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
table.data-check td:not(:last-child) { white-space: nowrap; }
table.data-check td:last-child { min-width: 16em; }
details { margin: 0 0 1em; }
summary { cursor: pointer; color: var(--accent); margin-bottom: 0.6em; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; line-height: 1.6; }
  a { color: inherit; }
  a[href^="http"]::after { content: " (" attr(href) ")"; font-size: 0.85em; color: var(--muted); }
  h1, h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  table { display: table; width: 100%; font-size: 9.5pt; }
  tr, blockquote, pre { break-inside: avoid; page-break-inside: avoid; }
  thead { display: table-header-group; }
}
""".strip()

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n.*?\r?\n---[ \t]*(?:\r?\n|\Z)", re.S)
_H1 = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.M)


def strip_front_matter(text: str) -> str:
    """The report without a leading `---` YAML block (if any)."""
    m = _FRONT_MATTER.match(text)
    return text[m.end():].lstrip("\n") if m else text


def _href_filter(tag: str, attr: str, value: str) -> str | None:
    """Absolute links to http/https/mailto, same-page links to a reference entry (`#ref-3`), and `id`
    only as a reference entry's: any other relative link or id is dropped."""
    if attr == "href":
        v = value.strip()
        return value if _SAFE_HREF.match(v) or (v.startswith("#") and _REF_ID.fullmatch(v[1:])) else None
    if attr == "id":
        return value if _REF_ID.fullmatch(value) else None
    if attr == "class":
        return value if value == DATA_CHECK_CLASS else None
    return value


def sanitize(fragment: str) -> str:
    """An HTML fragment reduced to the report's allow-list (see the module docstring)."""
    return nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "iframe", "object", "embed", "svg", "math", "template",
                            "noscript", "textarea", "title", "xmp", "noembed", "noframes"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_href_filter,
        url_schemes=URL_SCHEMES,
        url_relative="pass_through",  # relative URLs reach _href_filter, which keeps only `#ref-…`
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_FENCE = re.compile(r"^\s*(```|~~~)")
_INDENTED_HEADING = re.compile(r"^ {1,3}(#{1,6}\s)")
_LIST_ITEM = re.compile(r"^\s{0,3}(?:[*+-]|\d{1,3}[.)])\s+\S")
_TABLE_ROW = re.compile(r"^\s{0,3}\|")
_BARE_URL = re.compile(r"(?<![<(\[\w/\"'=])(https?://[^\s<>()\"'，。；：、）」|]+)")


def prepare_markdown(text: str) -> str:
    """Smooth over what Python-Markdown reads differently from CommonMark, outside code blocks: a
    heading indented by 1-3 spaces (` ### Sources:`), a list or table right after a paragraph line,
    and bare URLs (made into autolinks, which the sanitizer then checks like any link)."""
    out: list[str] = []
    fenced = False
    prev = ""
    for line in strip_front_matter(text).split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
            out.append(line)
            prev = line
            continue
        if not fenced:
            line = _INDENTED_HEADING.sub(r"\1", line)
            starts_block = (_LIST_ITEM.match(line) and not _LIST_ITEM.match(prev) and not prev.startswith((" ", "\t"))) \
                or (_TABLE_ROW.match(line) and not _TABLE_ROW.match(prev))
            if starts_block and prev.strip():
                out.append("")
            line = _BARE_URL.sub(r"<\1>", line)
        out.append(line)
        prev = line
    return "\n".join(out)


_CITATION = re.compile(r"\[(\d{1,3})\]")
_REF_HEADING = re.compile(r"参考(?:资料|文献)")
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_NO_LINKS_INSIDE = {"a", "code", "pre"}


def _is_reference_heading(el: etree.Element) -> bool:
    """A heading, or a paragraph that is one bold phrase, naming a reference list."""
    if el.tag in _HEADINGS:
        return bool(_REF_HEADING.search("".join(el.itertext())))
    if el.tag == "p" and len(el) == 1 and el[0].tag in ("strong", "b"):
        bold = el[0]
        outside = (el.text or "") + (bold.tail or "")
        return not outside.strip() and bool(_REF_HEADING.search("".join(bold.itertext())))
    return False


class _CitationLinks(Treeprocessor):
    """`[n]` → `<a href="#ref-n">[n]</a>` and `<li id="ref-n">` on the reference lists (module docstring).
    Runs after the inline patterns, so links, code spans and backslash escapes are already resolved
    (an escaped bracket is a placeholder here, not a `[`)."""

    def run(self, root: etree.Element) -> None:
        blocks = list(root)
        lists = [i for i, el in enumerate(blocks) if el.tag == "ol" and i and _is_reference_heading(blocks[i - 1])]
        if not lists:
            return None
        entries: list[dict[int, str]] = []
        for k, i in enumerate(lists, start=1):
            ol = blocks[i]
            try:
                start = int(ol.get("start", "1"))
            except ValueError:
                start = 1
            ids: dict[int, str] = {}
            for n, li in enumerate((c for c in ol if c.tag == "li"), start=start):
                ids[n] = li.attrib["id"] = f"ref-{n}" if len(lists) == 1 else f"ref-{k}-{n}"
            entries.append(ids)
        scope = 0
        for i, el in enumerate(blocks):
            if i in lists:
                scope = min(scope + 1, len(lists) - 1)
                continue
            self._link(el, entries[scope])
        return None

    def _link(self, el: etree.Element, ids: dict[int, str]) -> None:
        if el.tag in _NO_LINKS_INSIDE:
            return
        children = list(el)
        split = self._split(el.text, ids)
        if split is not None:
            el.text, anchors = split
            for pos, a in enumerate(anchors):
                el.insert(pos, a)
        for child in children:
            self._link(child, ids)
            split = self._split(child.tail, ids)  # a child's tail is text of `el`, even after <a> or <code>
            if split is not None:
                child.tail, anchors = split
                at = list(el).index(child) + 1
                for pos, a in enumerate(anchors):
                    el.insert(at + pos, a)

    @staticmethod
    def _split(text: str | None, ids: dict[int, str]) -> tuple[str, list[etree.Element]] | None:
        """(text before the first linked citation, [<a> elements, each with the text after it as tail])
        or None when `text` has no citation that points to an entry."""
        if not text:
            return None
        parts = _CITATION.split(text)  # text, number, text, number, ..., text
        if not any(int(parts[j]) in ids for j in range(1, len(parts), 2)):
            return None
        lead = parts[0]
        anchors: list[etree.Element] = []
        for j in range(1, len(parts), 2):
            n, after = int(parts[j]), parts[j + 1]
            if n in ids:
                a = etree.Element("a", {"href": f"#{ids[n]}"})
                a.text = f"[{n}]"
                a.tail = after
                anchors.append(a)
            elif anchors:
                anchors[-1].tail = (anchors[-1].tail or "") + f"[{n}]{after}"
            else:
                lead += f"[{n}]{after}"
        return lead, anchors


class _DataCheckTables(Treeprocessor):
    """`class="data-check"` on the tables of the `## 数据核验` section (or on every table: `everywhere`)."""

    def __init__(self, md: markdown.Markdown, everywhere: bool = False) -> None:
        super().__init__(md)
        self.everywhere = everywhere

    def run(self, root: etree.Element) -> None:
        inside = self.everywhere
        for el in root:
            if el.tag in ("h1", "h2") and not self.everywhere:
                inside = el.tag == "h2" and "".join(el.itertext()).strip() == "数据核验"
            elif inside and el.tag == "table":
                el.set("class", DATA_CHECK_CLASS)
        return None


class _CitationExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Python-Markdown's name
        md.treeprocessors.register(_CitationLinks(md), "yanbao_citations", 15)  # after inline (20)
        md.treeprocessors.register(_DataCheckTables(md), "yanbao_data_check", 14)


class _EvidenceExtension(Extension):
    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802 - Python-Markdown's name
        md.treeprocessors.register(_DataCheckTables(md, everywhere=True), "yanbao_data_check", 14)


def _converter(extension: Extension) -> markdown.Markdown:
    md = markdown.Markdown(extensions=[*MARKDOWN_EXTENSIONS, extension], output_format="html")
    # The templates escape `<` and `|` in web text with a backslash (render.md_inline); make
    # Python-Markdown honour those escapes instead of printing the backslash.
    md.ESCAPED_CHARS = [*md.ESCAPED_CHARS, "<", "|", "~", "\"", "'"]
    return md


def evidence_details(checks: CheckJSON) -> str:
    """Every claim's evidence as a closed `<details>` block (HTML, not yet sanitized)."""
    claims = checks.get("claims") or []
    if not claims:
        return ""
    table = _converter(_EvidenceExtension()).convert(evidence_table(checks))
    return f"<details>\n<summary>全部 {len(claims)} 处数值的核验证据</summary>\n{table}\n</details>"


def markdown_to_html_fragment(text: str, checks: CheckJSON | None = None) -> str:
    """Markdown → sanitized HTML body (no page frame). With `checks`, the evidence block ends it."""
    html_text = _converter(_CitationExtension()).convert(prepare_markdown(text))
    if checks:
        html_text += "\n" + evidence_details(checks)
    return sanitize(html_text)


def plain_title(text: str) -> str:
    """The first `# ` heading as plain text (markdown emphasis and escapes removed)."""
    m = _H1.search(strip_front_matter(text))
    if not m:
        return ""
    title = re.sub(r"\\(.)", r"\1", m.group(1))
    return re.sub(r"[*_`]", "", title).strip()


def to_html(text: str, title: str | None = None, lang: str = "zh-CN", checks: CheckJSON | None = None) -> str:
    """A standalone, print-friendly HTML page for a markdown report (with `checks`, the report's
    check: its evidence in a `<details>` block at the end of the 数据核验 appendix)."""
    body = markdown_to_html_fragment(text, checks)
    title = " ".join((title or plain_title(text) or "研究报告").split())
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{html.escape(lang, quote=True)}">\n<head>\n'
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="yanbao">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title, quote=True)}</title>\n"
        f"<style>\n{STYLESHEET}\n</style>\n"
        "</head>\n<body>\n<main>\n"
        f"{body}\n"
        "</main>\n</body>\n</html>\n"
    )


def page_title(report: str, manifest: Manifest) -> str:
    """`<title>`: the report's heading, with the topic when the heading does not already say it."""
    heading = plain_title(report)
    topic = str(manifest.get("title") or manifest.get("topic") or "").strip()
    if heading and topic and topic not in heading:
        return f"{heading}：{topic}"
    return heading or topic


def _one_line(value: object) -> str:
    """Front-matter strings stay on one line: no value can start a line of its own (`---`)."""
    return " ".join(str(value).split())


def _credibility(manifest: Manifest) -> object | None:
    value = manifest.get("credibility")
    if isinstance(value, dict):
        value = next((value[k] for k in ("score", "stars", "value") if value.get(k) is not None), None)
    if isinstance(value, bool) or value is None:
        return None
    return value if isinstance(value, int | float | str) else str(value)


def _source_count(manifest: Manifest, refs: Iterable[object]) -> int:
    urls = {getattr(r, "url", None) or str(r) for r in refs}
    if not urls:
        urls = {u for w in manifest.get("workers") or [] for u in w.get("sources") or []}
    if isinstance(manifest.get("source_count"), int) and not urls:
        count: int = manifest["source_count"]
        return count
    return len(urls)


def front_matter(manifest: Manifest, refs: Iterable[object] = (), day: str | None = None) -> str:
    """YAML front matter for static-site generators. Values that came from the web are data for
    `yaml.safe_dump` (quoted and escaped by YAML), never pasted into the text."""
    when = day or str(manifest.get("created_at") or "")[:10]
    try:
        when_value: object = date.fromisoformat(when)
    except ValueError:
        when_value = when or None
    kind = _one_line(manifest.get("kind") or "research")
    tags = [kind, *[_one_line(t) for t in manifest.get("tags") or [] if _one_line(t) not in ("", kind)]]
    data: dict[str, object] = {
        "title": _one_line(manifest.get("title") or manifest.get("topic") or ""),
        "date": when_value,
        "kind": kind,
        "tags": tags,
    }
    cred = _credibility(manifest)
    if cred is not None:
        data["credibility"] = cred
    data["source_count"] = _source_count(manifest, refs)
    dumped = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=4096)
    return f"---\n{dumped}---\n\n"


def publish_report(
    settings: object, report_path: Path, report: str, manifest: Manifest, refs: Iterable[object] = (),
    day: str | None = None, checks: CheckJSON | None = None,
) -> list[Path]:
    """Write the report in every format of `settings.formats` (markdown always; front matter when
    `settings.front_matter`), each atomically, with the same stem, and with `checks` (the check of
    `report`, offsets into it) the evidence file `<stem>.check.json`. Returns the paths written."""
    refs = list(refs)
    head = front_matter(manifest, refs, day) if getattr(settings, "front_matter", False) else ""
    write_atomic(report_path, head + report)
    written = [report_path]
    stem = report_path.name[:-3] if report_path.name.endswith(".md") else report_path.stem
    if "html" in (getattr(settings, "formats", None) or []):
        html_path = report_path.with_name(f"{stem}.html")
        write_atomic(html_path, to_html(report, title=page_title(report, manifest), checks=checks))
        written.append(html_path)
    if checks is not None:  # offsets index the file as written: after the front matter
        check_path = report_path.with_name(f"{stem}.check.json")
        write_atomic(check_path, evidence_json(checks, offset=len(head)))
        written.append(check_path)
    return written
