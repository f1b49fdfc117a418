"""Find the numeric claims in Chinese and mixed Chinese/English text, and normalize them.

A *claim* is a number a reader would take as a statement of fact: "4550亿美元", "约35%", "13-16万张",
"12个百分点". Years, dates, section numbers, list markers, citation markers, product names (H100,
GPT-4, Llama-3 405B) and numbers in URLs are not claims; finding them wrongly would fill the data-check
appendix with noise and, worse, mark correct text as contradicted.

The work is one compiled regular expression over a *masked* copy of the text (same length, so offsets
stay valid: URLs, code, citations, headings and header fields are blanked out), followed by pure
checks of the context around each match. Values are normalized to base units (亿 → 1e8, K → 1e3) so
that "4550亿美元", "4.55千亿美元" and "$455B" compare equal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

# --------------------------------------------------------------------------------------------
# Vocabularies. Each maps the text as written to its normalized unit (or multiplier).
# --------------------------------------------------------------------------------------------

#: Scale words after an Arabic number. Chinese numerals carry 万/亿 inside themselves.
SCALES: dict[str, float] = {
    "万亿": 1e12,
    "千亿": 1e11,
    "百亿": 1e10,
    "十亿": 1e9,
    "个亿": 1e8,
    "亿": 1e8,
    "千万": 1e7,
    "百万": 1e6,
    "十万": 1e5,
    "万": 1e4,
    "千": 1e3,
    "K": 1e3,
    "k": 1e3,
    "M": 1e6,
    "B": 1e9,
    "T": 1e12,
    "bn": 1e9,
    "mn": 1e6,
}
_LETTER_SCALES = {"K", "k", "M", "B", "T", "bn", "mn"}

#: Currencies written after the number.
CURRENCY_SUFFIXES: dict[str, str] = {
    "美元": "USD",
    "美金": "USD",
    "元人民币": "CNY",
    "人民币元": "CNY",
    "人民币": "CNY",
    "块钱": "CNY",
    "元": "CNY",
    "欧元": "EUR",
    "港元": "HKD",
    "港币": "HKD",
    "日元": "JPY",
    "英镑": "GBP",
    "韩元": "KRW",
    "新台币": "TWD",
    "USD": "USD",
    "RMB": "CNY",
    "CNY": "CNY",
    "EUR": "EUR",
    "HKD": "HKD",
    "JPY": "JPY",
    "GBP": "GBP",
}

#: Currencies written before the number.
CURRENCY_PREFIXES: dict[str, str] = {
    "US$": "USD",
    "HK$": "HKD",
    "$": "USD",
    "¥": "CNY",
    "￥": "CNY",
    "€": "EUR",
    "£": "GBP",
    "USD": "USD",
    "RMB": "CNY",
    "CNY": "CNY",
    "EUR": "EUR",
    "HKD": "HKD",
    "人民币": "CNY",
    "港币": "HKD",  # "每股港币0.32元": the 元 after it is the Hong Kong dollar's
    "港元": "HKD",
    "美元": "USD",
    "欧元": "EUR",
    "日元": "JPY",
}

#: Ratios: percent, percentage points, multiples.
RATIO_UNITS: dict[str, str] = {
    "%": "%",
    "个百分点": "pp",
    "百分点": "pp",
    "pp": "pp",
    "‰": "‰",
    "个基点": "bp",
    "基点": "bp",
    "bps": "bp",
    "bp": "bp",
    "倍": "x",
    "x": "x",
    "X": "x",
    "×": "x",
}

#: Chinese measure words (counts and durations), kept as written.
MEASURE_WORDS = (
    "个月 个季度 小时 分钟 毫秒 微秒 纳秒 秒 天 周 年 人次 个 张 台 家 卡 枚 名 块 片 颗 款 项 件 次 位 人 户 座 条 篇 "
    "份 套 辆 架 艘 部 只 所 层 轮 届 页 字 帧 核 股 岁 节点 种 类 头 例 笔 间 架次 班次 亩 公顷 点 万"
).split()
MEASURE_WORDS.remove("万")  # 万 is a scale, listed above; kept out of the measure words on purpose

#: Physical units, kept as written.
PHYSICAL_UNITS = (
    "平方毫米 平方厘米 平方公里 平方米 平米 纳米 微米 毫米 厘米 千米 公里 米 英寸 吨 千克 公斤 克 毫升 升 "
    "千瓦时 兆瓦时 吉瓦时 太瓦时 度电 千瓦 兆瓦 吉瓦 瓦 伏 公斤 斤 赫兹 兆赫 吉赫 字节 比特 像素 摄氏度 ℃ °C "
    "TB/s GB/s MB/s Gb/s Tb/s Gbps Mbps Tbps Kbps tokens/s token/s tok/s tokens token "
    "TFLOPS PFLOPS EFLOPS GFLOPS FLOPS TOPS PB TB GB MB KB GiB TiB nm μm um mm cm km "
    "kWh MWh GWh TWh kW MW GW W GHz MHz kHz Hz ms μs ns fps FPS mAh Wh nits QPS qps "
    "标准箱 标箱 TEU FEU"  # containers: a twenty-foot box (TEU, 标准箱) and a forty-foot one (FEU)
).split()

#: Approximation words. `bound` says which way the true value may lie from the written one.
APPROX_PREFIXES: dict[str, str] = {
    "大约": "about",
    "约合": "about",
    "约为": "about",
    "约莫": "about",
    "大概": "about",
    "约": "about",
    "~": "about",
    "≈": "about",
    "接近": "under",
    "将近": "under",
    "近": "under",
    "不到": "under",
    "不足": "under",
    "不超过": "under",
    "最多": "under",
    "低于": "under",
    "少于": "under",
    "<": "under",
    "≤": "under",
    "超过": "over",
    "超": "over",
    "逾": "over",
    "突破": "over",
    "至少": "over",
    "高于": "over",
    "不少于": "over",
    "多于": "over",
    ">": "over",
    "≥": "over",
}
APPROX_SUFFIXES: dict[str, str] = {
    "左右": "about",
    "上下": "about",
    "以上": "over",
    "有余": "over",
    "出头": "over",
    "+": "over",
    "以下": "under",
    "以内": "under",
}

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}

#: Numeral + measure word pairs that are ordinary words, not counts.
_CN_WORDS = ("十字", "十项全能", "十万火急", "十万八千里", "十八般", "三十六计", "一五一十", "九九八十一", "两位数", "三位数",
             "四位数", "五位数", "六位数", "七位数", "八位数", "九位数", "十位数", "十几位", "两三位")


def _alt(words: Iterable[str]) -> str:
    """A regex alternation, longest first so that 个百分点 wins over 个 and 亿美元 over 亿."""
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _ascii_guard(words: Iterable[str], guard: str = "(?![A-Za-z0-9])") -> str:
    """Alternation where ASCII-letter words must not run into more letters (MB is not M + B...)."""
    parts = []
    for w in sorted(set(words), key=len, reverse=True):
        esc = re.escape(w)
        parts.append(esc + guard if w[-1].isascii() and w[-1].isalpha() else esc)
    return "|".join(parts)


_UNIT_WORDS: dict[str, str] = {}
_UNIT_WORDS.update({w: w for w in MEASURE_WORDS})
_UNIT_WORDS.update({w: w for w in PHYSICAL_UNITS})
_UNIT_WORDS.update(RATIO_UNITS)
_UNIT_WORDS.update(CURRENCY_SUFFIXES)
_UNIT_WORDS["个季度"] = "季度"
_UNIT_WORDS["个月"] = "月"

_NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|[零〇一二两三四五六七八九十][零〇一二两三四五六七八九十百千万亿]*|[百千万亿][千万亿]*"
# Chinese scales may follow a blank ("3 万"); letter scales must touch the number ("175B", not "2025 B2B").
_CJK_SCALE = _alt(w for w in SCALES if w not in _LETTER_SCALES and w != "千") + "|千(?![瓦米克卡兆字])"
_LETTER_SCALE = _ascii_guard(_LETTER_SCALES)
# x/X/× followed by a name, a number or money is multiplication ("8×H100", "1000×$10"), not "times".
_UNIT = (
    _ascii_guard(w for w in _UNIT_WORDS if w not in ("x", "X", "×")) + r"|[xX×](?![ \t]?[A-Za-z0-9$¥￥€(（])"
    # "1660亿度": 度 after 万 or 亿 is electricity (a kilowatt-hour); alone it may be a temperature
    + r"|(?<=[万亿])度"
)
#: Unit words read only in the forms `_UNIT` allows them (度 after 万/亿): kept out of `_UNIT_WORDS`.
_SCALED_UNIT_WORDS = {"度": "度电"}
_SP = r"[ \u00a0]?"
_CUR_PRE = _ascii_guard(CURRENCY_PREFIXES, guard="(?![A-Za-z])")
_NUMBER_START = r"(?<![A-Za-z0-9_.#/:@\\])(?<![A-Za-z0-9][-‐])"

# The claim regex starts at the number itself (a character class: the regex engine then skips fast to
# candidates); approximation words, currency signs and the sign before it are read by _PREFIX_RE.
_CLAIM_RE = re.compile(
    rf"""
    (?:(?P<pct>百分之)(?P<n1p>[零〇一二两三四五六七八九十百]+(?:点[零〇一二两三四五六七八九]+)?)|{_NUMBER_START}(?P<n1>{_NUM}))
    (?P<m1>多|余)?(?:{_SP}(?P<s1>{_CJK_SCALE})|(?P<s1x>{_LETTER_SCALE}))?(?P<m1b>多|余)?(?:{_SP}(?P<u1>{_UNIT}))?
    (?:
        {_SP}(?P<sep>-|–|—|~|至|到){_SP}
        (?P<cur2>{_CUR_PRE})?{_SP}
        (?<![A-Za-z0-9_.])(?P<n2>{_NUM})
        (?P<m2>多|余)?(?:{_SP}(?P<s2>{_CJK_SCALE})|(?P<s2x>{_LETTER_SCALE}))?(?:{_SP}(?P<u2>{_UNIT}))?
    )?
    (?P<post>{_alt(APPROX_SUFFIXES)})?
    """,
    re.VERBOSE,
)
def _unit_word(written: str | None) -> str:
    """The unit a written unit word stands for ("个季度" → 季度, "度" after 亿 → 度电), "" for none."""
    if not written:
        return ""
    return _UNIT_WORDS.get(written) or _SCALED_UNIT_WORDS.get(written, "")


_PREFIX_RE = re.compile(
    rf"(?:(?P<pre>{_alt(APPROX_PREFIXES)}){_SP})?(?:(?P<cur1>{_CUR_PRE}){_SP})?(?:(?<![A-Za-z0-9])(?P<sign>[-−+]))?\Z"
)
_PREFIX_LOOKBACK = 12

# Spans that are blanked before matching, as one alternation (one pass over the text). Blanking keeps
# the text length, so offsets into the masked copy are offsets into the original.
_MASK_RE = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"(?s:^(?:```|~~~).*?^(?:```|~~~)[^\n]*$)",  # fenced code
            r"^[ \t]{0,3}#[^\n]*",  # markdown headings
            # report header fields with a short value: **最大循环次数**: 3 / **发布日期：** 2025-11-13
            r"^[ \t]*\*\*[^*\n]{1,40}?(?:\*\*[ \t]*[:：]|[:：][ \t]*\*\*)[ \t]*[^\n。]{0,40}$",
            r"`[^`\n]+`",  # inline code
            r"(?i:(?:https?|ftp)://|www\.)[^\s)\]>）】\"'，。、；]+",  # URLs
            r"\]\([^)\s]*\)",  # markdown link targets
            r"(?<![A-Za-z0-9_.-])[A-Za-z0-9_.-]+\.(?i:com|cn|org|net|io|ai|gov|edu|dev)(?:/[^\s)）】，。]*)?(?![A-Za-z0-9])",
            r"\[\^?[0-9]+(?:\s*[-–,，、]\s*[0-9]+)*\]|【[0-9]+(?:\s*[-–,，、]\s*[0-9]+)*】",  # [3], [1-3], 【2】
            # dates and times: 2025-08-31, 2025/8/31, 2025.08.31, 2025年8月31日, 8月31日, 10:30
            r"(?<![0-9])(?:(?:19|20)[0-9]{2}(?:[-/][0-9]{1,2}(?:[-/][0-9]{1,2})?|\.[0-9]{1,2}\.[0-9]{1,2})"
            r"|(?:(?:19|20)[0-9]{2}年)?[0-9]{1,2}月(?:[0-9]{1,2}[日号])?|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)(?![0-9])",
        )
    ),
    re.M,
)
_FULLWIDTH_RE = re.compile("[０-９％．＄～－＋＜＞]")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*(?:\n|\Z)", re.S)
_FULLWIDTH = str.maketrans("０１２３４５６７８９％．＄～－＋＜＞", "0123456789%.$~-+<>")
_SECTION_AFTER = re.compile(r"[ \t]?(?:节|章|条|款|楼|号|期|版|代|届|级|类|名之|阶段)")
_YEAR_TAIL = re.compile(r"[代底初末中度]")
_MODEL_BEFORE = re.compile(r"[A-Za-z][A-Za-z0-9.+_-]*[ \t]?$")
_VAGUE_BEFORE = "几数上成好多"  # 几十亿, 数百万, 上万, 成千, 好几万: vague, not figures
_LIST_GAP = re.compile(r"[ \t]*(?:、|,|，|/|和|及|与|以及|或)[ \t]*")


@dataclass(slots=True)
class Claim:
    """One numeric claim, with its value normalized to base units.

    `step` is the granularity of the written number (4550亿 → 1e8; 4.55千亿 → 1e9): the reader cannot
    tell apart values closer than that. `sig_step` is the place of the last non-zero digit, which is
    what an approximate figure ("约4500亿") commits to. `bound` says how an approximation leans:
    "about", "over" (超/逾/以上/多) or "under" (近/不到/以下).
    """

    text: str
    start: int
    end: int
    value: float
    value_hi: float | None = None
    unit: str = ""
    approx: bool = False
    bound: str = ""
    step: float = 1.0
    sig_step: float = 1.0
    # Bookkeeping for list propagation and the soft filters; not part of the public contract.
    scale: float = field(default=1.0, repr=False)
    has_unit: bool = field(default=False, repr=False)
    digits: int = field(default=0, repr=False)
    decimal: bool = field(default=False, repr=False)
    chinese: bool = field(default=False, repr=False)
    letter_scale: bool = field(default=False, repr=False)
    model_context: bool = field(default=False, repr=False)
    line_start: bool = field(default=False, repr=False)
    year_like: bool = field(default=False, repr=False)

    @property
    def is_range(self) -> bool:
        return self.value_hi is not None

    @property
    def has_scale(self) -> bool:
        return self.scale != 1.0


@dataclass(slots=True)
class _Number:
    """One parsed number: value before scale, granularity, and shape facts for the filters."""

    value: float
    step: float
    sig_step: float
    digits: int
    decimal: bool
    chinese: bool
    year_like: bool


def parse_chinese_numeral(s: str) -> int | None:
    """一百二十 → 120, 两千 → 2000, 十万 → 100000, 一千二百万 → 12000000; None when not a numeral.

    Positional strings (二〇二五, 三七) are refused: they are years or idioms, not amounts.
    """
    total = section = number = 0
    prev = ""
    for ch in s:
        if ch in _CN_DIGITS:
            if prev in _CN_DIGITS and prev not in "零":
                return None  # two digits in a row: 三七, 二〇二五 (一百零五 is fine)
            number = _CN_DIGITS[ch]
            prev = ch
            continue
        prev = ch
        if ch in _CN_UNITS:
            section += (number or 1) * _CN_UNITS[ch]
            number = 0
        elif ch == "万":
            section = ((section + number) or 1) * 10_000
            number = 0
        elif ch == "亿":
            total = ((total + section + number) or 1) * 100_000_000
            section = number = 0
        else:
            return None
    return total + section + number


def _trailing_zero_step(n: int) -> float:
    if n == 0:
        return 1.0
    step = 1
    while n % (step * 10) == 0:
        step *= 10
    return float(step)


def _parse_number(raw: str) -> _Number | None:
    if raw[0].isdigit():
        plain = raw.replace(",", "")
        if "." in plain:
            int_part, frac = plain.split(".")
            stripped = frac.rstrip("0")
            return _Number(
                value=float(plain),
                step=10.0 ** -len(frac),
                sig_step=10.0 ** -len(stripped) if stripped else _trailing_zero_step(int(int_part)),
                digits=len(int_part.lstrip("0")) + len(frac),
                decimal=True,
                chinese=False,
                year_like=False,
            )
        n = int(plain)
        return _Number(
            value=float(n),
            step=1.0,
            sig_step=_trailing_zero_step(n),
            digits=len(plain.lstrip("0")) or 1,
            decimal=False,
            chinese=False,
            year_like="," not in raw and len(plain) == 4 and 1900 <= n <= 2100,
        )
    if "点" in raw:  # 四点八 (after 百分之)
        whole, frac = raw.split("点", 1)
        w = parse_chinese_numeral(whole)
        if w is None or not frac or any(ch not in _CN_DIGITS for ch in frac):
            return None
        digits = "".join(str(_CN_DIGITS[ch]) for ch in frac)
        return _Number(float(f"{w}.{digits}"), 10.0 ** -len(digits), 10.0 ** -len(digits.rstrip("0") or "0"),
                       len(str(w)) + len(digits), True, True, False)
    cn = parse_chinese_numeral(raw)
    if cn is None:
        return None
    return _Number(
        value=float(cn),
        step=1.0,
        sig_step=_trailing_zero_step(cn),
        digits=len(str(cn)),
        decimal=False,
        chinese=True,
        year_like=False,
    )


def mask_text(text: str) -> str:
    """A copy of `text`, same length, where everything that can hold no claim is blanked out.

    Blanked: front matter, fenced and inline code, headings, header fields with a short value (a
    longer value is prose and its numbers are claims), URLs and domains, citation markers, dates.
    Full-width digits and signs are folded to ASCII (one character for one, offsets unchanged).
    """
    fm = _FRONT_MATTER.match(text)
    head = " " * fm.end() if fm else ""
    body = text[len(head) :]
    masked = head + _MASK_RE.sub(_blank, body)
    if _FULLWIDTH_RE.search(masked):
        masked = masked.translate(_FULLWIDTH)
    return masked


def _blank(m: re.Match[str]) -> str:
    return " " * (m.end() - m.start())


def _line_start(scan: str, pos: int) -> bool:
    """Only blanks or a list bullet between the start of the line and `pos`."""
    i = pos - 1
    while i >= 0 and scan[i] in " \t":
        i -= 1
    if i >= 0 and scan[i] in "-*+" and (i == 0 or scan[i - 1] in " \t\n"):
        i -= 1
        while i >= 0 and scan[i] in " \t":
            i -= 1
    return i < 0 or scan[i] == "\n"


def _raw_claims(text: str, scan: str, pos: int = 0, endpos: int | None = None) -> list[Claim]:
    """Every regex match that survives the hard context checks, before list propagation."""
    out: list[Claim] = []
    for m in _CLAIM_RE.finditer(scan, pos, len(scan) if endpos is None else endpos):
        out.extend(_build(m, text, scan))
    return out


def _build(m: re.Match[str], text: str, scan: str) -> list[Claim]:
    """Turn one regex match into zero, one (or, for 从A到B, two) claims, checking its context."""
    g = m.groupdict()
    n_start = m.start()
    if g["pct"]:
        g["n1"] = g["n1p"]
    p = _PREFIX_RE.search(scan, max(0, n_start - _PREFIX_LOOKBACK), n_start)
    if p is not None and p.start() < p.end() == n_start and not (g["pct"] and p.group("sign")):
        g.update(p.groupdict())
        n_start = p.start()
    else:
        g["pre"] = g["cur1"] = g["sign"] = None
    raw1 = g["n1"]
    s1 = g["s1"] or g["s1x"]
    s2 = g["s2"] or g["s2x"]
    has_unit = bool(g["u1"] or g["u2"] or g["cur1"] or g["cur2"] or g["pct"])
    if not (has_unit or s1 or s2 or g["sep"] or raw1[0].isdigit() or _CN_BIG_CHARS.intersection(raw1)):
        return []  # 一些, 十足, 三星: a bare Chinese numeral below 100 is wording (the common case: be quick)
    n1 = _parse_number(raw1)
    if n1 is None:
        return []
    start, end = n_start, m.end()
    pre = g["pre"] or ""
    if pre in _PRE_WORD_TAILS and scan[start - 1 : start] and scan[start - 1] in _PRE_WORD_TAILS[pre]:
        # 签约3000万, 最近3年: the character belongs to a word, it is not an approximation
        start += len(pre)
        pre = ""
    n1_start = m.start("n1p") if g["pct"] else m.start("n1")
    before = scan[max(0, start - 4) : start]
    if before.endswith(("第", "#", "No.", "No. ")) and not (
        before.endswith("连续第") and _UNIT_WORDS.get(g["u1"] or "") in _DURATIONS
    ):
        return []  # ordinals and markers ("连续第五个季度" is five quarters: a duration, kept)
    if raw1[0] in "百千万亿" and not pre and not g["pct"] and not (g["u1"] in _HARDWARE and not s1):
        return []  # 千万 (by all means), 百万级: a bare scale word is a number only after 近/超/逾 (万卡 is one)
    if n1.chinese and n1_start > 0 and scan[n1_start - 1] in _VAGUE_BEFORE:
        return []
    if n1.chinese and (raw1[0] in "零〇" or scan.startswith("分之", n1_start + len(raw1))):
        return []  # 零一万物 (a name), 万分之一 (a fraction written out)
    if n1.chinese and text.startswith(_CN_WORDS, n1_start):
        return []
    after = scan[end : end + 6]
    if not has_unit and not (s1 or s2):
        # 5G, 4o, 1.1.1, 3.11.2: a name or a version, not an amount; 3节, 8月: sections and dates
        if after[:1].isascii() and after[:1].isalpha():
            return []
        if after[:1] == "." and after[1:2].isdigit():
            return []
        if _SECTION_AFTER.match(after) or after[:1] in ("月", "日", "号", "时"):
            return []
    if (g["u1"] == "年" or g["u2"] == "年") and _YEAR_TAIL.match(after[:1]):
        return []  # 90年代, 25年底
    if g["s1x"] in ("K", "k") and not has_unit and n1.value in (2, 4, 5, 8) and not g["n2"]:
        return []  # 4K 视频: a display resolution
    sep = g["sep"]
    if sep in ("至", "到") and g["n2"] and (scan[max(0, start - 1) : start] in ("从", "由")):
        # 从230万到330万: a change from one figure to another, two claims, not a range
        return _split_range(m, text, scan)
    n2 = _parse_number(g["n2"]) if g["n2"] else None
    if g["n2"] and n2 is None:
        return []

    scale1 = SCALES.get(s1 or "", 1.0)
    scale2 = SCALES.get(s2 or "", 1.0)
    if n2 is not None and not s1 and s2 and not g["u1"] and not g["cur1"]:
        scale1 = scale2  # 13-16万: the scale written once applies to both ends
    if (g["cur1"] or g["cur2"]) and _UNIT_WORDS.get(g["u2"] or g["u1"] or "") == "x":
        return []  # "$98 ×": money times something, a formula rather than a claim
    if g["pct"]:
        if g["u1"] or g["sep"]:
            return []
        g["u1"] = "%"  # 百分之三十 → 30 %
    unit1 = _unit_word(g["u1"]) or CURRENCY_PREFIXES.get(g["cur1"] or "", "")
    unit2 = _unit_word(g["u2"]) or CURRENCY_PREFIXES.get(g["cur2"] or "", "")
    if g["cur1"] and g["u1"] == "元":
        unit1 = CURRENCY_PREFIXES.get(g["cur1"], unit1)  # 港币0.32元: a currency named before a bare 元
    if n2 is not None and (
        (unit1 and unit2 and unit_class(unit1) != unit_class(unit2))
        or (g["u1"] and (s2 or (unit2 and not unit1)) and not s1)
        or (unit1 in _RATIO and not unit2 and s2)
    ):
        # 同比增长77%至180亿美元: a rate and then a level, two claims; a range needs one unit
        return _split_range(m, text, scan)
    unit = unit1 or unit2
    if (
        n2 is not None and sep in ("至", "到") and unit not in _RATIO and (g["u1"] or g["cur1"] or s1)
        and _CHANGE_VERB_BEFORE.search(scan, max(0, start - 8), start)
    ):
        # 净减少46家至6,284家: a change and the new level, two claims, each with its unit written (but
        # 净增1,000至1,200家 and 增长10%至15% are ranges)
        return _split_range(m, text, scan)

    bound = APPROX_PREFIXES.get(pre, "")
    if g["m1"] or g["m1b"] or g["m2"]:
        bound = bound or "over"
    if g["post"]:
        bound = bound or APPROX_SUFFIXES[g["post"]]
    sign = -1.0 if g["sign"] in ("-", "−") else 1.0
    value = sign * n1.value * scale1
    value_hi = n2.value * scale2 if n2 is not None else None
    if value_hi is not None and value_hi < value:
        return []  # reversed pairs are not ranges
    step, sig_step = n1.step * scale1, n1.sig_step * scale1
    if n2 is not None:
        step, sig_step = max(step, n2.step * scale2), max(sig_step, n2.sig_step * scale2)
    has_currency = bool(g["cur1"] or g["cur2"]) or unit in _CURRENCY_CODES
    letter_scale = bool(g["s1x"] or g["s2x"])
    # Llama-3 405B, RTX 4090: only a bare number or a letter scale can be a model name
    model_context = (
        not has_currency
        and (not unit or letter_scale)
        and bool(_MODEL_BEFORE.search(scan, max(0, start - 24), start))
    )
    year_like = n1.year_like and not (s1 or s2) and (n2 is None or n2.year_like or n2.value < 100)
    return [
        Claim(
            text=text[start:end],
            start=start,
            end=end,
            value=value,
            value_hi=value_hi,
            unit=unit,
            approx=bool(bound),
            bound=bound,
            step=step,
            sig_step=sig_step,
            scale=scale2 if n2 is not None and s2 else scale1,
            has_unit=bool(unit),
            digits=max(n1.digits, n2.digits if n2 else 0),
            decimal=n1.decimal or bool(n2 and n2.decimal),
            chinese=n1.chinese,
            letter_scale=letter_scale,
            model_context=model_context,
            line_start=not unit and not (s1 or s2) and _line_start(scan, start),
            year_like=year_like,
        )
    ]


_CHANGE_VERB_BEFORE = re.compile(
    r"(?:增长|增加|提升|提高|上升|上涨|上调|下降|下滑|减少|降低|回落|下跌|下调|缩减|扩大|收窄|净增|净减|净增加|净减少|多增|少增)"
    r"(?:了)?(?:约|近|逾|超过|超)?\s*$"
)


def _split_range(m: re.Match[str], text: str, scan: str) -> list[Claim]:
    """Re-read 从A到B as two separate claims."""
    out: list[Claim] = []
    for a, b in ((m.start(), m.start("sep")), (m.end("sep"), m.end())):
        for sub in _CLAIM_RE.finditer(scan, a, b):
            if not sub.group("sep"):
                out.extend(_build(sub, text, scan))
    return out


def _propagate_list_units(claims: list[Claim], scan: str) -> None:
    """"320亿、730亿、1140亿美元": the unit written once at the end of a list applies to every item."""
    for i in range(len(claims) - 1, 0, -1):
        last = claims[i]
        if not last.has_unit:
            continue
        nxt = last
        for j in range(i - 1, -1, -1):
            c = claims[j]
            gap = scan[c.end : nxt.start]
            if c.has_unit or c.model_context or not _LIST_GAP.fullmatch(gap):
                break
            if c.has_scale and last.unit in ("%", "pp", "x", "‰", "bp"):
                break  # "会员超过2.1亿，约75%的间夜量…": a count in 亿 is never a share
            if ("，" in gap or "," in gap) and c.has_scale != last.has_scale:
                break  # a comma between clauses, not a list: "营收2.1亿，增长75倍"
            c.unit = last.unit
            c.has_unit = True
            if not c.has_scale and last.has_scale and not c.chinese:
                c.value *= last.scale
                c.step *= last.scale
                c.sig_step *= last.scale
                if c.value_hi is not None:
                    c.value_hi *= last.scale
                c.scale = last.scale
            nxt = c


def _keep(c: Claim) -> bool:
    """The soft filters: what passes is a figure a reader would want checked."""
    if c.year_like and c.unit in ("", "年"):
        return False  # 2025, 2025年, 2024-2026年
    if c.model_context and not c.has_unit and (c.letter_scale or not c.has_scale):
        return False  # Llama-3 405B, RTX 4090, Python 3.11
    if c.chinese:
        if c.value < 10 and not c.has_scale:
            # 三倍, 八个季度, 两家, 三年 yes; 一家, 一个 (wording), 三元锂电 (a name) no
            if c.unit in ("%", "x", "pp"):
                return c.value >= 1
            if c.unit in _DURATIONS and c.value >= 1:
                return True  # 两个季度, 三年 (and 一年 where it is one: see _one_period)
            return (c.value >= 2 or (c.value_hi or 0) >= 2) and c.unit in _COUNTABLE and c.unit not in ("个", "点")
        return c.has_unit or c.has_scale or c.value >= 100
    if c.unit == "点":
        return c.value >= 100 and not c.chinese  # 3000点 (an index); 10点 is a time
    if c.has_unit or c.has_scale:
        return True
    if c.line_start and (not c.decimal or c.digits <= 4) and not c.approx:
        return False  # list markers and section numbers at the head of a line: "2.1 详细分析"
    return c.digits >= 3 or c.decimal


def extract_claims(text: str) -> list[Claim]:
    """All numeric claims in `text`, in order, with `text[c.start:c.end] == c.text`."""
    scan = mask_text(text)
    claims = _raw_claims(text, scan)
    _propagate_list_units(claims, scan)
    kept = [c for c in claims if _keep(c)]
    special = _special_claims(text, scan)
    if special:
        kept = [c for c in kept if not any(c.start < s.end and s.start < c.end for s in special)]
        kept = sorted(kept + special, key=lambda c: c.start)
    for c in kept:
        _adjust(c, scan)
    return [c for c in kept if not (c.chinese and c.value == 1 and c.value_hi is None and c.unit in _DURATIONS) or _one_period(c, scan)]


_ONE_BEFORE = set("去近约到过了仅在用花耗需经逾超")
_ONE_AFTER = ("内", "多", "时间", "以来", "里", "左右", "以上", "之内")


def _one_period(c: Claim, scan: str) -> bool:
    """一年 is a duration in "过去一年", "一年内", "用了一年多"; in "一年营收" it means annual."""
    if scan.startswith(("一度", "前", "后"), c.end):
        return False  # 一年一度, 一年前
    return (c.start > 0 and scan[c.start - 1] in _ONE_BEFORE) or scan.startswith(_ONE_AFTER, c.end)


# -- other written forms: 三成, 两成半, 千分之三, 1/3, 三分之一, 百分之77, 翻番, 一年半 -------------------

_CN_SMALL = "[零〇一二两三四五六七八九十]"
_SPECIAL_RE = re.compile(
    rf"""
    (?=[一二两三四五六七八九十百千万0-9翻过半])  # a cheap first test at every position
    (?:(?P<cheng>(?<![0-9零〇一二两三四五六七八九十百千万亿])(?:[一二两三四五六七八九]|[1-9])成(?:半|[一二三四五六七八九])?)
        (?![本长员功就熟交立果品型绩都为套批群语])(?!份(?!额))
    |(?P<frac>百分之[0-9]+(?:\.[0-9]+)?|(?:千|万)分之(?:{_CN_SMALL}[零〇一二两三四五六七八九十百]*|[0-9]+(?:\.[0-9]+)?))
    |(?P<cnfrac>(?<![0-9零〇一二两三四五六七八九十百千万亿])(?:[二两三四五六七八九十]{{1,3}})分之(?:{_CN_SMALL}[零〇一二两三四五六七八九十]*))
    |(?P<slash>(?<![0-9./\-:])[1-9]/[1-9][0-9]?(?![0-9/.]))
    |(?P<fan>翻(?:了)?(?:一|两|三|1|2|3)?番)
    |(?P<chengrange>(?<![0-9零〇一二两三四五六七八九十百千万亿])[一二两三四五六七八九][到至~-][一二两三四五六七八九十]成)
    |(?P<halfall>一半|过半|半数)
    |(?P<pair>(?<![0-9零〇一二两三四五六七八九十百千万亿])[一二两三四五六七八九][两二三四五六七八九十](?:个)?(?:年|季度|月|天|周|倍|成|家|人|项))
    |(?P<half>(?<![0-9.零〇一二两三四五六七八九十百千万亿])(?:{_CN_SMALL}+|[0-9]+)(?:个)?(?:年|小时)半|(?:{_CN_SMALL}+|[0-9]+)个半(?:月|小时)))
    """,
    re.VERBOSE,
)
_CN_VALUE = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _num_of(raw: str) -> float | None:
    if raw[:1].isdigit():
        return float(raw)
    n = parse_chinese_numeral(raw)
    return float(n) if n is not None else None


def _special_claims(text: str, scan: str) -> list[Claim]:
    """Claims the main grammar does not read: shares in 成, fractions, 翻番, durations with 半."""
    if not _SPECIAL_HINT.search(scan):
        return []
    out: list[Claim] = []
    for m in _SPECIAL_RE.finditer(scan):
        kind = m.lastgroup
        raw = m.group(0)
        unit, step = "%", 1.0
        if kind == "cheng":
            value = float(_CN_VALUE.get(raw[0], 0) or int(raw[0]) if not raw[0].isdigit() else int(raw[0])) * 10
            tail = raw[2:]
            if tail == "半":
                value += 5
                step = 5.0
            elif tail:
                value += _CN_VALUE[tail]
                step = 1.0
            else:
                step = 10.0
            if value == 10 and not tail and scan[m.end() : m.end() + 1] not in "，,。；;、 以左多的至到":
                continue  # 一成 in a word (一成不变)
        elif kind == "frac":
            den = {"百": 100.0, "千": 1000.0, "万": 10000.0}[raw[0]]
            num = _num_of(raw[3:])
            if num is None:
                continue
            value, step = num / den * 100, 100 / den
        elif kind == "cnfrac":
            den_raw, num_raw = raw.split("分之", 1)
            den_of, num_of = _num_of(den_raw), _num_of(num_raw)
            if not den_of or num_of is None or num_of > den_of:
                continue
            value, step = num_of / den_of * 100, 0.5
        elif kind == "slash":
            a_raw, b_raw = raw.split("/")
            if int(a_raw) >= int(b_raw) or scan[m.end() : m.end() + 1] in "日号":
                continue
            value, step = int(a_raw) / int(b_raw) * 100, 0.5
        elif kind == "chengrange":
            lo_v, hi_v = _CN_VALUE[raw[0]] * 10.0, (_CN_VALUE.get(raw[2], 0) or 10) * 10.0
            if hi_v <= lo_v:
                continue
            out.append(Claim(text=text[m.start() : m.end()], start=m.start(), end=m.end(), value=lo_v,
                             value_hi=hi_v, unit="%", step=10.0, sig_step=10.0, has_unit=True, digits=2, chinese=True))
            continue
        elif kind == "pair":
            a, b = _CN_VALUE[raw[0]], (_CN_VALUE.get(raw[1], 0) or 10)
            if b != a + 1:
                continue  # 一三 is no range
            unit_word = raw[2:].lstrip("个")
            scale = 10.0 if unit_word == "成" else 1.0
            unit = {"成": "%", "倍": "x", "月": "月"}.get(unit_word, unit_word)
            out.append(Claim(text=text[m.start() : m.end()], start=m.start(), end=m.end(), value=a * scale,
                             value_hi=b * scale, unit=unit, approx=True, bound="about", step=scale, sig_step=scale,
                             has_unit=True, digits=1, chinese=True))
            continue
        elif kind == "halfall":
            value, step = 50.0, 10.0  # 一半: read to about a tenth, as 五成 is
            if raw == "过半":
                out.append(Claim(text=raw, start=m.start(), end=m.end(), value=50.0, unit="%", approx=True,
                                 bound="over", step=10.0, sig_step=10.0, has_unit=True, digits=2, chinese=True))
                continue
        elif kind == "fan":
            times = {"": 1, "一": 1, "1": 1, "两": 2, "2": 2, "三": 3, "3": 3}[raw.replace("翻", "").replace("了", "").replace("番", "")]
            value, unit, step = float(2**times), "x", 1.0
        else:  # half: 一年半, 两个半月
            num_match = re.match(rf"{_CN_SMALL}+|[0-9]+", raw)
            assert num_match is not None
            n = _num_of(num_match.group(0))
            if n is None:
                continue
            value, step = n + 0.5, 0.5
            unit = "年" if "年" in raw else ("小时" if "小时" in raw else "月")
        start = m.start()
        bound = ""
        p = _PREFIX_RE.search(scan, max(0, start - _PREFIX_LOOKBACK), start)
        if p is not None and p.group("pre") and p.end() == start and p.start() < start:
            pre = p.group("pre")
            if not (pre in _PRE_WORD_TAILS and scan[p.start() - 1 : p.start()] and scan[p.start() - 1] in _PRE_WORD_TAILS[pre]):
                bound = APPROX_PREFIXES[pre]
                start = p.start("pre")
        end = m.end()
        for word, suffix_bound in APPROX_SUFFIXES.items():
            if scan.startswith(word, end) and word not in ("+",):
                bound = bound or suffix_bound
                end += len(word)
                break
        if scan.startswith("多", end) and kind == "cheng":
            bound = bound or "over"
            end += 1
        # a fraction or a share in 成 is read to about a tenth of itself ("超过四分之一" covers 25%–30%)
        sig = max(step, value * 0.1) if kind in ("cnfrac", "slash", "frac") else step
        out.append(
            Claim(
                text=text[start:end], start=start, end=end, value=value, unit=unit, approx=bool(bound),
                bound=bound, step=step, sig_step=sig, has_unit=True, digits=2, chinese=True,
            )
        )
    return out


_SPECIAL_HINT = re.compile("成|分之|/|番|半|[一二两三四五六七八九][两二三四五六七八九十]")
_GROWTH_BEFORE = re.compile(r"(?:增长|增加|提升|提高|上涨|上升|增)了?[ \t]*\Z")


def _adjust(c: Claim, scan: str) -> None:
    """增长一倍 is a doubling (2x), as 翻番 is; "约占整体市场的四分之三": the approximation word stands
    before 占, and bounds the share as if it stood before the number."""
    if c.unit == "x" and c.value == 1 and c.value_hi is None and _GROWTH_BEFORE.search(scan, max(0, c.start - 4), c.start):
        c.value = 2.0
    if not c.approx and c.unit == "%" and (m := _APPROX_SHARE.search(scan, max(0, c.start - 16), c.start)):
        c.approx, c.bound = True, APPROX_PREFIXES.get(m.group(1), "about")


#: An approximation word before 占 and the share after it: "约占整体市场的四分之三", "接近占总量的一半".
_APPROX_SHARE = re.compile(r"(大约|约|接近|将近|近)占[^，,。；;：:0-9]{0,12}?的?\s*$")


def parse_quantity(written: str) -> Claim | None:
    """Parse one quantity written on its own ("4550亿美元", "约35%", "8张"); None unless exactly one.

    Used for curated facts, whose value and unit come in separate YAML fields: the prose filters
    (a bare "8" is not a claim in a sentence) do not apply, only the parsing.
    """
    scan = mask_text(written)
    claims = _raw_claims(written, scan)
    if len(claims) != 1:
        return None
    c = claims[0]
    if written[: c.start].strip() or written[c.end :].strip():
        return None
    return c


def decimal_text(value: float | int) -> str:
    """A YAML number as plain digits (no exponent), so that it parses like report text."""
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(value)), "f")


_CN_BIG_CHARS = set("百千万亿")
_RATIO = {"%", "pp", "‰", "bp", "x"}
_HARDWARE = {"卡", "张", "台", "颗", "片", "块", "枚", "人", "家", "辆", "座"}
#: Measure words and durations whose small Chinese-numeral counts are claims (两家, 三年, 八个季度).
_COUNTABLE = set(MEASURE_WORDS) | {"季度", "月"}
_DURATIONS = {"年", "月", "季度", "周", "天", "小时"}
_CURRENCY_CODES = set(CURRENCY_SUFFIXES.values())
#: Characters that, just before 约/近, make them the tail of an ordinary word (合约, 最近 ...).
_PRE_WORD_TAILS = {"约": set("合签条预公节制契违履特集婚邀"), "近": set("最附临靠亲贴")}


#: Units that count the same things, so "8张卡" and "8块卡" compare. Everything else is its own class.
_UNIT_CLASSES = {
    "块": "张", "片": "张", "颗": "张", "枚": "张", "卡": "张", "名": "人", "位": "人", "平米": "平方米",
    "标准箱": "teu", "标箱": "teu",
}

#: Units of one quantity written in several ways: (class, factor to the class's base unit).
#: "98.6吉瓦时" and "98.6GWh" are one figure; "一年半" and "18个月" too.
_CONVERTIBLE: dict[str, tuple[str, float]] = {
    "年": ("月", 12.0), "月": ("月", 1.0), "季度": ("月", 3.0),
    "w": ("w", 1.0), "瓦": ("w", 1.0), "kw": ("w", 1e3), "千瓦": ("w", 1e3), "mw": ("w", 1e6), "兆瓦": ("w", 1e6),
    "gw": ("w", 1e9), "吉瓦": ("w", 1e9),
    "wh": ("wh", 1.0), "kwh": ("wh", 1e3), "千瓦时": ("wh", 1e3), "度电": ("wh", 1e3), "mwh": ("wh", 1e6),
    "兆瓦时": ("wh", 1e6), "gwh": ("wh", 1e9), "吉瓦时": ("wh", 1e9), "twh": ("wh", 1e12),
    "吨": ("kg", 1e3), "千克": ("kg", 1.0), "公斤": ("kg", 1.0), "斤": ("kg", 0.5), "克": ("kg", 1e-3),
    "km": ("m", 1e3), "公里": ("m", 1e3), "千米": ("m", 1e3), "米": ("m", 1.0),
}


def unit_class(unit: str) -> str:
    """The class two units must share for their values to be compared ("" = no unit written)."""
    low = unit.lower()
    if low in _CONVERTIBLE:
        return _CONVERTIBLE[low][0]
    return _UNIT_CLASSES.get(unit, low)


def unit_factor(unit: str) -> float:
    """What one of `unit` is in its class's base unit (1 for units that convert to nothing)."""
    return _CONVERTIBLE.get(unit.lower(), ("", 1.0))[1]
