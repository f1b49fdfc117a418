"""What a number is *about*: its subject, its metric, its time and its role, from the words around it.

A figure verifies only when the source states the same thing ("甲骨文 … RPO … 4550亿美元"), so every
claim and every stored fact carries a `Referent`:

* `near`: the terms of the clause that holds the number (the metric, often the subject);
* `terms`: the terms of the whole sentence (adds a subject that an earlier clause names);
* `names`: the companies, products and other proper names of the sentence, or of the previous
  sentence when this one names nothing ("甲骨文公布财报。其RPO为4550亿美元。" is about 甲骨文);
* `times`: years, quarters and halves mentioned ("2024年营收" and "2025年营收" are different facts);
* `role`: a *level* ("营收180亿美元", "毛利率35%") or a *change* ("同比增长77%"), with its direction
  (up/down) and basis (同比/环比). "收入同比增长77%至180亿美元" holds one of each.

Terms are lexicon words (folded to one spelling: 营业收入 → 营收, 较上年同期 → 同比, Oracle → 甲骨文)
and, for the rest of the Chinese text, character bigrams. Bigrams need no dictionary, so a paraphrase
that cuts words differently still shares most of its terms with the source, and the module loads in
milliseconds: a word segmenter's dictionary (jieba: 0.6–1.5 s per process) would cost more than a
whole `yanbao check` is allowed to take.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from pipeline.facts.extract import PHYSICAL_UNITS
from pipeline.text import FUNCTION_CHARS, REFERENT_STOP_WORDS, TermScanner

# -- the lexicon ------------------------------------------------------------------------------------

#: Spellings of one thing, folded to the first word of each group. Keys are matched in the text
#: (longest first, ASCII case-insensitive); a folded word is one term, so "营业收入" and "营收" match.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("营收", "营业收入", "营业总收入", "总营收", "总收入", "销售收入", "销售额", "营业额", "收入", "revenue"),
    ("净利润", "归母净利润", "归属于母公司股东的净利润", "归属于上市公司股东的净利润", "净利", "盈利", "利润",
     "net income"),
    ("毛利率", "毛利润率", "毛利水平", "综合毛利率", "销售毛利率"),
    ("净利率", "净利润率"),
    ("资本开支", "资本支出", "资本性支出", "capex"),
    ("rpo", "剩余履约义务", "未履行的履约义务", "remaining performance obligations"),
    ("出货量", "出货", "交付量"),
    ("销量", "销售量"),
    ("市场份额", "市占率", "市场占有率", "份额"),
    ("研发投入", "研发支出", "研发费用", "研发开支", "研发开销", "r&d"),
    ("市值", "总市值"),
    ("估值", "投后估值"),
    ("用户", "用户数", "用户规模", "用户数量"),
    ("月活", "月活跃用户", "月活跃用户数", "mau"),
    ("日活", "日活跃用户", "dau"),
    ("同比", "较上年同期", "比上年同期", "较去年同期", "比去年同期", "与去年同期相比", "较上年", "比上年",
     "较去年", "比去年", "年同比", "较上年末", "比上年末", "较上年度", "比上年度", "较去年底", "较上年底", "yoy"),
    ("环比", "较上季度", "比上季度", "较上一季度", "比上一季度", "较上季", "较上月", "比上月", "较上半年", "比上半年",
     "较一季度", "比一季度", "较二季度", "比二季度", "较三季度", "比三季度", "与一季度相比", "与二季度相比",
     "与三季度相比", "与今年一季度相比", "qoq"),
    ("数据中心", "数据中心业务", "idc"),
    # the standard metrics of Chinese financial reporting, each with the names analysts use for it
    ("净资产收益率", "加权平均净资产收益率", "roe"),
    ("总资产收益率", "roa"),
    ("每股收益", "基本每股收益", "eps"),
    ("经营现金流", "经营性现金流", "经营活动现金流", "经营活动现金流量净额", "经营活动产生的现金流量净额"),
    ("自由现金流", "fcf"),
    ("分红比例", "派息率", "股利支付率", "分红率", "现金分红比例"),
    ("资产负债率", "负债率"),
    ("销售费用率", "销售费率"),
    ("管理费用率", "管理费率"),
    ("平均售价", "均价", "单车均价", "平均价格", "销售均价"),
    ("单票收入", "单件收入", "单票价格"),
    ("机队", "机队规模", "飞机总数"),
    ("在手现金", "现金及现金等价物", "账上现金"),
    ("进出口", "外贸进出口", "货物贸易进出口", "进出口总值", "进出口总额", "外贸总值"),
    ("出口", "出口额", "出口总值"),
    ("进口", "进口额", "进口总值"),
    ("云业务", "云计算", "云服务"),
    ("甲骨文", "oracle"),
    ("英伟达", "nvidia", "辉达", "nvda"),
    ("微软", "microsoft", "msft"),
    ("谷歌", "google", "alphabet"),
    ("亚马逊", "amazon", "aws"),
    ("meta", "脸书", "facebook"),
    ("苹果", "apple"),
    ("特斯拉", "tesla"),
    ("英特尔", "intel"),
    ("amd", "超威"),
    ("台积电", "tsmc"),
    ("三星", "samsung"),
    ("字节跳动", "bytedance", "字节"),
    ("阿里巴巴", "alibaba", "阿里"),
    ("腾讯", "tencent"),
    ("百度", "baidu"),
    ("华为", "huawei"),
    ("小米", "xiaomi"),
    ("软银", "softbank"),
    ("海力士", "sk海力士", "sk hynix", "hynix"),
    ("美光", "micron"),
    ("博通", "broadcom"),
    ("高通", "qualcomm"),
    ("宁德时代", "catl"),
    ("比亚迪", "byd"),
)

#: Companies, labs and institutions: a shared one says two sentences are about the same subject; two
#: different ones (and none shared) say they are not.
ENTITY_NAMES = frozenset(
    """
    甲骨文 英伟达 微软 谷歌 亚马逊 meta 苹果 特斯拉 英特尔 amd 台积电 三星 字节跳动 阿里巴巴 阿里云 腾讯 腾讯云
    百度 华为 华为云 小米 openai anthropic 软银 寒武纪 中芯国际 海光 摩尔线程 壁仞 沐曦 天数智芯 燧原 昆仑芯
    美团 拼多多 京东 快手 网易 金山 比亚迪 宁德时代 理想汽车 蔚来 小鹏 联想 浪潮 中兴 科大讯飞 商汤 旷视 智谱
    月之暗面 百川智能 深度求索 deepseek 博通 高通 美光 海力士 阿斯麦 asml 戴尔 超微电脑 鸿海 富士康 中际旭创
    新易盛 工业富联 coreweave 贝恩 麦肯锡 高盛 摩根士丹利 国际能源署 iea idc gartner 中国移动 中国电信 中国联通
    """.split()
) | frozenset(
    # places are subjects too ("广东成交均价0.396元" is not 山东's): provinces and the economies
    # business writing compares (not 中国 or 全球: nearly every sentence here is about them)
    """
    北京 天津 上海 重庆 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建 江西 山东 河南 湖北 湖南 广东 海南 四川
    贵州 云南 陕西 甘肃 青海 内蒙古 广西 西藏 宁夏 新疆 香港 澳门 台湾 深圳 广州 杭州 成都 武汉 苏州 西安
    美国 日本 韩国 德国 法国 英国 印度 越南 泰国 印尼 马来西亚 新加坡 巴西 墨西哥 俄罗斯 澳大利亚 加拿大 沙特 阿联酋
    """.split()
)

#: ASCII words too common in business writing to name anything.
ASCII_GENERIC = frozenset(
    "ai gpu gpus cpu api llm llms ml it ceo cfo cto ipo etf esg kpi b2b b2c pc ar vr xr iot "
    "app apps sdk tco roi opex usd rmb cny eur hkd fy q1 q2 q3 q4 h1 h2 pp bp the of and to in for on with "
    "by at from as is are was were be this that its it an a or vs per".split()
)

#: Bigrams of report boilerplate (verbs of saying, hedges, generic nouns): never evidence that two
#: sentences share a referent. The list lives with the other stop words (`pipeline.text`).
STOP_BIGRAMS = REFERENT_STOP_WORDS

_FUNCTION_CHARS = FUNCTION_CHARS
#: Characters of written numbers and units: a bigram of only these is a quantity, not a referent.
_NUMERIC_CHARS = frozenset("零〇一二两三四五六七八九十百千万亿兆元个倍成半多余点")
_SCALE_CHARS = frozenset("万亿")

_LEXICON: dict[str, str] = {}
for _group in SYNONYM_GROUPS:
    for _w in _group:
        _LEXICON[_w.lower()] = _group[0]
for _name in ENTITY_NAMES:
    _LEXICON.setdefault(_name, _name)
_UNIT_WORDS = frozenset(u.lower() for u in PHYSICAL_UNITS)
_TIME_RE = re.compile(
    r"(?<![0-9])((?:19|20)[0-9]{2})(?=\s?(?:年|财年|财季|Q[1-4]|H[12]|[-/.][0-9]))"
    r"|FY\s?((?:19|20)?[0-9]{2})(?![0-9])"
    r"|(?<![A-Za-z])Q([1-4])(?![0-9])"
    r"|(?<![0-9零〇一二两三四五六七八九十个前上下])第?([一二三四1-4])(?:财季|季度)"  # not 下一财季
    r"|([上下])半年"
)
_CN_QUARTER = {"一": "1", "二": "2", "三": "3", "四": "4"}
_CUMULATIVE_QUARTERS = re.compile(r"前([一二三四1-4])(?:个)?(?:财季|季度)")
_CN_MONTHS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "十一": 11, "十二": 12}
_SENTENCE_END = re.compile(r"[。！？!?\n；]|\.(?=\s)")
_CLAUSE_END = re.compile(r"[，；;：|、]|,(?![0-9]{3})|:(?![0-9])")  # not 4,550 nor 10:30; （） stay in
SENTENCE_WINDOW = 200  # chars each side of the number: long unpunctuated text is cut to this
NEAR_WINDOW = 24  # chars each side of the number, inside its clause

# -- the role of a number -----------------------------------------------------------------------------

_UP = "增长|增加|提升|提高|上升|上涨|上调|增|涨|升|扩大|攀升|跃升|飙升|大增|激增|猛增|多增|高出|多出|多|反弹|回升|走高|抬升|加快|加速|提速"
_DOWN = (
    "下降|下滑|减少|降低|回落|下跌|下调|缩减|萎缩|缩小|收窄|减|降|跌|下挫|锐减|少增|低于|少|回撤|回调|走低|下探|放缓|放慢|减缓"
)
_RATE_WORDS = "增速|增幅|涨幅|增长率|降幅|跌幅|下降幅度|增长幅度|同比|环比"
# Text just before a number (its approximation word already excluded) that makes it a change.
_CHANGE_BEFORE = re.compile(
    rf"(?P<dir>{_UP}|{_DOWN})(?:(?<=(?<![至最不])[多少])[卖赚产销售收花用交付出]{{1,2}})?"  # "多卖了11.5%" (not 至少卖出)
    r"(?:了|达到|达|为|约|近|超过|超|逾|幅度为|幅度达|幅度约|幅度在|幅度是|幅度|速为)?[ \t]*$"
    rf"|(?P<rate>{_RATE_WORDS})(?:为|达到|达|约为|约|在|是|高达|仅为|仅)?[ \t]*$"
    # "比去年同期低1.1个百分点", "较上年高出3%": a comparison is a change, 低 down and 高 up
    r"|(?:比|较)[^，,。；;]{0,10}?(?P<cmp>高|低)(?:了|出|于)?(?:约|近|超过|逾)?[ \t]*$"
    # "跑赢沪深300指数约25个百分点": outperforming is a difference, up; 跑输 down
    r"|(?P<race>跑赢|跑输|领先|落后)[^，,。；;]{0,12}?(?:了)?(?:约|近|超过|逾)?[ \t]*$"
)
_SIGNED_BASIS = re.compile(r"(?:同比|环比|较[^，,。；;]{0,6}|比[^，,。；;]{0,6}|yoy|qoq)[ \t]*$", re.I)
_DOWN_RE = re.compile(rf"^(?:{_DOWN})")
_LEVEL_AFTER_CHANGE = re.compile(r"(?:至|到|为|达到|达)[ \t]*$")
_TO_LEVEL = re.compile(r"(?:至|到)[ \t]*$")
_QOQ_RE = (
    r"环比|较上季度|比上季度|较上一季度|比上一季度|较上季|较上月|比上月|较上半年|比上半年|[较比][一二三]季度|与(?:今年)?[一二三]季度相比|qoq"
    r"|[较比](?:上|前一)(?:周|个月|月|季度)"
)
_BASIS_WORDS = re.compile(
    r"同比|较上年同期|比上年同期|较去年同期|比去年同期|与去年同期相比|较上一?年|比上一?年|较前一年|比前一年|较去年|比去年|yoy|"
    + _QOQ_RE, re.I,
)
#: A clause of nothing but a basis, a verb of change and an adverb ("，比上年同期仅多", "，比前一年多卖了"):
#: what rose or fell is named in the clause before.
_GENERIC_CLAUSE = re.compile(
    rf"(?:[ \t]|{_BASIS_WORDS.pattern}|与(?:上年|去年)同期相比|{_UP}|{_DOWN}|仅|只|已|仍|还|又|再|均|都|了|约|近|为|达到?"
    r"|(?<=[多少])[卖赚产销售收花用交付出]{1,2})*"
)
_QOQ = re.compile(_QOQ_RE, re.I)


def role_of(text: str, start: int, end: int, unit: str) -> str:
    """"level", or "change:<up|down>:<yoy|qoq|>" for a growth rate or a change in a level.

    Read from the clause just before the number: "同比增长77%" is a change, "增长77%至180亿美元" is a
    change then a level (至 … after a change word), "毛利率35%" and "营收180亿美元" are levels.
    """
    cs = start
    lo = max(0, start - 16)
    while cs > lo and text[cs - 1] not in "，,。；;：:！？!?\n（(":
        cs -= 1
    before = text[cs:start]
    after = _RATE_AFTER.match(text, end) if unit in ("%", "pp") else None
    if after is not None and not _CHANGE_BEFORE.search(before):
        # "录得26.6%的同比增幅", "快于21.5%的收入增速": the rate word follows the figure
        basis = "qoq" if after.group("basis") == "环比" else ("yoy" if after.group("basis") else "")
        return f"change:{'down' if after.group('word') in ('降幅', '跌幅') else 'up'}:{basis}"
    if not before:
        return "level"
    m = _CHANGE_BEFORE.search(before)
    if m is None:
        sign = text[start:end].lstrip("约近超逾")[:1]
        if sign in ("+", "-", "−") and _SIGNED_BASIS.search(before):
            # "（较年初+12.6%）", "同比-1.9个百分点": a signed figure after a basis is a change
            found = list(_BASIS_WORDS.finditer(before))
            basis = "qoq" if found and _QOQ.fullmatch(found[-1].group(0)) else "yoy"
            return f"change:{'up' if sign == '+' else 'down'}:{basis}"
        return "level"
    if m.group("dir") and (_TO_LEVEL.search(before) or (unit not in RATIO_UNITS and _LEVEL_AFTER_CHANGE.search(before))):
        return "level"  # 增至180亿美元, 降至22%: the new level
    word = m.group("dir") or m.group("cmp") or m.group("race") or ""
    down = bool(word and (_DOWN_RE.match(word) or word in ("低", "跑输", "落后"))) or bool(
        m.group("rate") and m.group("rate").startswith(("降", "跌", "下降"))
    )
    if not word:
        # 增速为12% / 同比为-3%: direction from the sign or the rate word
        down = down or text[start:end].lstrip("约近超逾").startswith(("-", "−"))
    clause = text[cs:end]
    basis = ""
    found = list(_BASIS_WORDS.finditer(clause))
    if found:  # "环比增长17.2%、同比增长约46%": the basis nearest the number is its own
        basis = "qoq" if _QOQ.fullmatch(found[-1].group(0)) else "yoy"
    return f"change:{'down' if down else 'up'}:{basis}"


RATIO_UNITS = frozenset({"%", "pp", "x", "bp", "‰"})
#: A rate word after the figure: "26.6%的同比增幅", "21.5%的收入增速", "约9%的可比增速".
_RATE_AFTER = re.compile(r"\s*的(?P<basis>同比|环比)?[\u4e00-\u9fff]{0,4}?(?P<word>增幅|增速|涨幅|增长率|降幅|跌幅)")


_PREVIOUS = re.compile(
    r"(?:上年同期|去年同期|上年|去年|上一年|前一年|一年前|此前|同期)(?:则|分别|仅)?(?:全年|全年度)?(?:为|是|的)?"
    r"(?:每天|每日|每年|每月|每人|人均|平均|单日)?(?:录得|亏损|盈利|实现|约|达)?[ \t]*$"
    r"|(?<![较比与])(?:上年同期|去年同期|上一年|前一年)(?:(?!相比|相较)[^，,。；]){1,8}?(?:为|是|录得|亏损|盈利|实现|约|达)[ \t]*$"
    # "上年同期营收约为20.7亿元", "去年同期全网GMV约为1.14万亿元": the metric between, no verb (the
    # approximation word is the figure's); not "较上年同期…" nor "与去年同期相比…" (a comparison)
    r"|(?<![较比与从由])(?:上年同期|去年同期|(?:上年|去年)(?=前[一二三]季度|[一二三四]季度|上半年|下半年))(?:的)?(?:(?!相比|相较|水平)[^\W\d_至到升降增减跌涨的])(?:(?!相比|相较|水平)[^\W\d_至到升降增减跌涨]){1,9}(?<!的)[ \t]*$"
)


_PREVIOUS_LEAD = re.compile(r"[^，,。]{0,4}(?:上年同期|去年同期|上一年|前一年|一年前)[，,]")


_FROM_BEFORE = re.compile(r"(?:从|由)[ \t]*$")
_FROM_PERIOD = re.compile(r"(?:从|由)(?:(?:19|20)[0-9]{2}年|上年|去年)?[ \t]*$")


def _month_end(text: str, month: re.Match[str]) -> bool:
    """"截至9月末", "10月底": a stock at a period's end, as at 年末 (and not at 年初)."""
    return text.startswith(("末", "底"), month.end())

_DIGIT = re.compile(r"[0-9]")
#: "从750亿美元上调至…", "由58%降到…": any verb of change ending in 至/到 (not "从60%至70%", a range)
_TO_AFTER = re.compile(r"[^，,。；;]{0,6}?[\u4e00-\u9fff](?:至|到)")


def previous_period(text: str, start: int, sentence_start: int = 0, end: int | None = None) -> bool:
    """A level said of the earlier period ("上年同期为38.6亿元", "由上一年的58%降至46%",
    "上年同期，公司营收为334亿元", "净利润从6.8亿元增至19.4亿元")."""
    if _PREVIOUS.search(text, max(0, start - 16), start) is not None:
        return True
    return _PREVIOUS_LEAD.match(text, sentence_start, start) is not None


def from_level(text: str, start: int, end: int) -> bool:
    """The first level of a change stated as "从A<verb>至B" ("指引从750亿美元上调至850亿美元",
    "计划从2.3万卡扩展至5万卡"): earlier than B, but not necessarily a past period's (a plan's A is now)."""
    return bool(_FROM_BEFORE.search(text, max(0, start - 3), start) and _TO_AFTER.match(text, end))


def rate_context(sentence: str) -> bool:
    """The sentence speaks of growth rates ("增速为10.6%，住宿预订为13.1%"): a bare % may be one."""
    return _RATE_CONTEXT.search(sentence) is not None


_RATE_CONTEXT = re.compile("增速|增幅|涨幅|降幅|跌幅|增长率")


def roles_compatible(a: str, b: str, unit: str = "%") -> bool:
    """Levels match levels; changes match changes of the same basis (an unknown basis matches any).

    Only ratios are strict: "增长15%" (a rate) and "占15%" (a share) are different statements, while
    "净增约860万户" and "净增用户约860万户" are one statement read as a change and as a level."""
    if a == "level" or b == "level":
        return a == b or unit not in RATIO_UNITS
    _, _, ba = a.split(":")
    _, _, bb = b.split(":")
    return not (ba and bb and ba != bb)


def same_direction(a: str, b: str) -> bool:
    return a == "level" or b == "level" or a.split(":")[1] == b.split(":")[1]


# -- terms ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Referent:
    """What the text around one number talks about."""

    near: frozenset[str]
    terms: frozenset[str]
    times: frozenset[str]
    sentence: str
    names: frozenset[str] = frozenset()
    role: str = "level"
    #: names carried from the previous sentence (a sentence that names nothing); part of `names`
    context: frozenset[str] = frozenset()
    #: the metric: the last terms before the number in its clause ("营收" of "营收为180亿元")
    head: frozenset[str] = frozenset()
    #: False when the clause names no metric of its own and `head` is borrowed from its neighbourhood
    own_head: bool = True
    #: the words that may name the subject: the sentence's own (and the previous one's when it has none)
    subject: frozenset[str] = frozenset()


def _fold(word: str) -> str | None:
    """The lexicon spelling of an ASCII word, or the word itself when it can name something.

    An all-capitals word of letters only that the lexicon does not know (NIM, ARPU, ORR, PUE, GMV)
    is mostly a metric's abbreviation, not a subject: it becomes "#nim", which counts as a metric
    word and never as a name (so "HY-216 … ORR" and "ORR" do not name two different subjects)."""
    low = word.lower()
    if low in _LEXICON:
        return _LEXICON[low]
    if low in ASCII_GENERIC or len(low) < 2 or low.isdigit() or low in _UNIT_WORDS:
        return None  # GWh, TB/s, nm: a unit, not a name
    if word.isalpha() and word.isupper() and len(word) <= 6:
        return "#" + low
    return low


def _numeric_pair(a: str, b: str) -> bool:
    """三成, 万辆, 亿元: the tail of a written number, not a referent."""
    return (a in _NUMERIC_CHARS and b in _NUMERIC_CHARS) or a in _SCALE_CHARS or a == "元"


_NUMERAL_RUN_RE = (
    "[一二两三四五六七八九十百千万]+(?:个)?(?:成半?|倍|年半?|季度|个月|家|台|张|卡|项|款|分之[一二三四五六七八九十]+)(?:左右|以上|以下|多|余)?"
    # approximation words and copulas: no bigram across them ("增幅接近" gives no "幅接")
    "|接近|将近|超过|不到|不足|左右|以上|以下|大约|约为|约合|约占|高达|多达|达到|仅为|分别为|分别|相当于"
)
#: The facts room's terms: `pipeline.text.TermScanner` with this lexicon, written numbers (三成,
#: 八个季度) and approximation words as extra separators, and no bigram inside a written number.
SCANNER = TermScanner(_LEXICON, _fold, separators=_NUMERAL_RUN_RE, skip_pair=_numeric_pair)


@lru_cache(maxsize=131_072)
def tokens(sentence: str) -> tuple[tuple[str, int, int], ...]:
    """(term, start, end) of a sentence: lexicon words (folded), ASCII names, bigrams of the rest
    (`SCANNER`; see `pipeline.text.TermScanner`). Cached: a check reads the same source sentences for
    many claims, and an import reads each sentence again as the next one's context."""
    return SCANNER.terms(sentence)


@lru_cache(maxsize=262_144)
def is_named(term: str) -> bool:
    """A term that names a subject: a listed company or institution, or an ASCII name (H100, Blackwell)."""
    if term in ENTITY_NAMES:
        return True
    return (
        term.isascii() and term[0] != "#" and term not in ASCII_GENERIC and term not in _METRIC_TERMS and not term.isdigit()
    )


_METRIC_TERMS = frozenset(g[0] for g in SYNONYM_GROUPS if g[0].isascii() and g[0] not in ENTITY_NAMES) | {"rpo"}
#: The lexicon's metric words (营收, 净利润, 同比 …): what a sentence measures, not whom.
METRIC_TERMS = frozenset(g[0] for g in SYNONYM_GROUPS if g[0] not in ENTITY_NAMES)


@lru_cache(maxsize=65_536)
def sentence_terms(sentence: str) -> frozenset[str]:
    """The set of a sentence's terms (`tokens` without their places): what sentences are compared by."""
    return frozenset(t for t, _, _ in tokens(sentence))


def terms_of(text: str) -> frozenset[str]:
    """Terms of a short text (curated entity and metric names, aliases)."""
    found = {t for t, _, _ in tokens(text)}
    if text.strip():
        whole = _fold(text.strip()) if text.strip().isascii() else _LEXICON.get(text.strip().lower())
        if whole:
            found.add(whole)
    return frozenset(found)


def vocabulary_id() -> str:
    """Changes whenever the lexicon or the stop lists change (the store keys its postings on it)."""
    parts = [
        "\n".join(f"{k}={v}" for k, v in sorted(_LEXICON.items())),
        "\n".join(sorted(STOP_BIGRAMS)),
        "".join(sorted(_FUNCTION_CHARS)),
        "".join(sorted(_NUMERIC_CHARS)),
        "\n".join(sorted(ASCII_GENERIC)),
        "bigrams-1",
    ]
    return hashlib.sha256("\t".join(parts).encode("utf-8")).hexdigest()[:16]


_MONTHS = re.compile(
    r"(?<![0-9])(1[0-2]|[1-9])\s?(?:(?:至|到|-|—|~)\s?(1[0-2]|[1-9])\s?)?月(?!\s?[0-9]{1,2}\s?[日号])(?:份)?"
    r"|前(?P<first>[一二三四五六七八九十]{1,2}|1[0-2]|[1-9])个月"
)


def times_of(text: str) -> frozenset[str]:
    """Years, quarters, halves and months mentioned: {"y2025", "q4", "h1", "m5", "m1-5"}.

    A month with a day ("3月26日") is a date of publication, not the period a figure covers."""
    found = set()
    for m in _MONTHS.finditer(text):
        if _BASE_BEFORE.search(text, max(0, m.start() - 3), m.start()):
            continue  # "M2增速较9月末回落0.2个百分点": the month compared with, not the figure's
        if _month_end(text, m):
            found.add("p:end")
        if m.group("first"):
            n = m.group("first")
            last = int(n) if n.isdigit() else _CN_MONTHS.get(n, 0)
            if last:
                found.add(f"m1-{last}")
        elif m.group(2):
            found.add(f"m{m.group(1)}-{m.group(2)}")
        else:
            found.add("m" + m.group(1))
    for m in _CUMULATIVE_QUARTERS.finditer(text):  # 前三季度: the first three quarters together
        found.add("q1-" + _CN_QUARTER.get(m.group(1), m.group(1)))
    for m in _TIME_RE.finditer(text):
        year, fy, q, cnq, half = m.groups()
        if year and _BASE_BEFORE.search(text, max(0, m.start() - 4), m.start()) and not _PERIOD_OF_NUMBER.match(
            text, m.end()
        ):
            found.add("b" + year)  # "较2023年下降0.3个百分点": the base of a comparison, not the period
        elif year:
            found.add("y" + year)
        elif fy:
            found.add("y" + (fy if len(fy) == 4 else "20" + fy))
        elif (q or cnq) and _BASE_BEFORE.search(text, max(0, m.start() - 3), m.start()):
            found.add("bq" + (q or _CN_QUARTER.get(cnq, cnq)))  # "比二季度增长6.5%": the quarter compared with
        elif q:
            found.add("q" + q)
        elif cnq:
            found.add("q" + _CN_QUARTER.get(cnq, cnq))
        elif half:
            found.add("h1" if half == "上" else "h2")
    return frozenset(found)


_BASE_BEFORE = re.compile(r"(?:较|比|相比|相较于?|与|同|自)\s*$")  # 自9月初…以来: since
_YEAR_LEFT = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?=\s?(?:年|财年))")


def _is_base_year(text: str, m: re.Match[str]) -> bool:
    return bool(_BASE_BEFORE.search(text, max(0, m.start() - 4), m.start())) and not _PERIOD_OF_NUMBER.match(
        text, m.end()
    )
_PERIOD_OF_NUMBER = re.compile(r"\s?年(?:的|为|末的|底的)\s?[0-9零〇一二两三四五六七八九十]")
#: The year written right before a figure is that figure's own, even after 较/与 ("与2024年18.7%的降幅相比",
#: "较2023年720辆增长19%": 720辆 is 2023's, the 19% is not).
_OWN_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})\s?年(?:的|为|末的|底的)?\s?$")

_PERIODS = re.compile(
    r"(?P<start>(?:年初|期初)(?!以来|至今))|(?P<mid>(?<![0-9零〇一二两三四五六七八九十今去明前])年中(?!国))|(?P<end>年末|年底|期末|末期)|(?P<year>全年|全年度|年度)"
)


def quarter_before(sentence: str, at: int) -> frozenset[str]:
    """The quarter (or first quarters, 前三季度) named nearest to the left of position `at`."""
    best: tuple[int, str] | None = None
    for m in _CUMULATIVE_QUARTERS.finditer(sentence, 0, at):
        best = (m.start(), "q1-" + _CN_QUARTER.get(m.group(1), m.group(1)))
    for m in _TIME_RE.finditer(sentence, 0, at):
        q, cnq = m.group(3), m.group(4)
        if _BASE_BEFORE.search(sentence, max(0, m.start() - 3), m.start()):
            continue  # "比二季度增加21.5%": the base of a comparison
        tag = "q" + q if q else ("q" + _CN_QUARTER.get(cnq, cnq) if cnq else "")
        if tag and (best is None or m.start() > best[0]):
            best = (m.start(), tag)
    return frozenset({best[1]}) if best else frozenset()


def periods_before(sentence: str, at: int) -> frozenset[str]:
    """The period the number at `at` is said of, from the nearest month or period word to its left
    ("由年初的15.6元降至12月的13.9元左右，全年平均约14.5元": p:start, m12, p:year)."""
    best: tuple[int, frozenset[str]] | None = None
    # "由年初的9,860人减少至8,720人": a period said of the first level is not the new level's
    to_level = _TO_LEVEL.search(sentence, max(0, at - 2), at) is not None
    for m in _MONTHS.finditer(sentence, 0, at):
        if m.group("first") or _BASE_BEFORE.search(sentence, max(0, m.start() - 3), m.start()):
            continue  # "比8月增长18%": 8月 is the base of the comparison
        if m.group(2):
            tags = frozenset({f"m{m.group(1)}-{m.group(2)}"})
        elif _UP_TO.search(sentence, max(0, m.start() - 4), m.start()) and sentence.startswith(("底", "末"), m.end()):
            tags = frozenset({"m" + m.group(1), "m1-" + m.group(1)})  # 截至10月底累计 = 1至10月累计
        else:
            tags = frozenset({"m" + m.group(1)})
        if _month_end(sentence, m):
            tags |= {"p:end"}
        best = (m.start(), tags)
    for m in _PERIODS.finditer(sentence, 0, at):
        if _BASE_BEFORE.search(sentence, max(0, m.start() - 3), m.start()):
            continue  # "较年初下降8.5%至19.6亿元": 年初 is the base of the comparison
        if to_level and _FROM_PERIOD.search(sentence, max(0, m.start() - 8), m.start()) and _DIGIT.search(
            sentence, m.end(), at
        ):
            # "由年初的9,860人减少至8,720人": 年初 is the first level's; the new one is where it ended
            best = (m.start(), frozenset({"p:end"}) if m.lastgroup == "start" else frozenset())
            continue
        if best is None or m.start() > best[0]:
            best = (m.start(), frozenset({"p:" + (m.lastgroup or "")}))
    return best[1] if best else frozenset()


#: An abbreviation defined in the text: "跨境支付交易额（TPV）", "剩余履约义务(RPO)".
_ABBR_DEF = re.compile(r"([\u4e00-\u9fff]{2,8})[（(]([A-Z][A-Za-z0-9]{1,7})[)）]")
_FUTURE = re.compile("将|预计|有望|预测|计划|目标|届时")
_NEXT_YEAR = re.compile(r"\s*(?:[^，,。；;]{0,6}?)(?:明年|下一年|下一年度|来年)")
#: An amount per day, month, year or person ("日均", "平均每天", "月均", "人均" …).
_PER = re.compile(
    r"(?P<d>每天|每日|日均|单日|平均每天|平均每日)|(?P<m>每月|月均|单月)|(?P<y>每年|年均)|(?P<p>人均|每人|每位)"
)
#: The same written after the figure: "3.9次/天", "200万吨/年".
_PER_AFTER = re.compile(r"\s?/\s?(?:(?P<d>天|日)|(?P<m>月)|(?P<y>年)|(?P<p>人))")
#: What a level leaves out of a whole, and the words of what is left out: "X以外的…", "除X(以)外的…",
#: "除X外，其余…" (not "除此之外" nor "除了国内市场外，海外收入…": besides, not except; not "预期之外的").
#: Not "剔除/扣除X后": that is as often a like-for-like figure or a definition ("扣除成本后的利润").
_REMAINDER = re.compile(
    r"(?P<x1>[\u4e00-\u9fffA-Za-z0-9]{1,12}?)(?<!预期)(?<!意料)(?<!预料)(?<!计划)(?<!想象)(?<!意)(?:以外|之外)的"
    r"|除(?!此)(?P<x2>[^，,。；;]{1,15}?)(?:以外|之外|外)(?:的|[，,]?[^，,。；;]{0,10}?(?:其余|其他|剩余|其它))"
)


def left_out(sentence: str, start: int, at: int) -> str:
    """What a figure at `at` leaves out of a whole ("HBM以外的DRAM营收为247亿美元": "HBM"), read from
    `start` (its clause or the one before) on; "" when it is no remainder."""
    found = [m for m in _REMAINDER.finditer(sentence, start, at) if not _DIGIT.search(sentence, m.end(), at)]
    if not found:
        return ""
    return found[-1].group("x1") or found[-1].group("x2") or ""


#: After a figure: it is a bar that a group is defined by ("超过千亿元的企业有4家", "100万元以上的客户共…").
_ATTRIBUTE_AFTER = re.compile(
    r"\s*(?:以上|以下|及以上|及以下)?的(?:大|中小|头部)?(?:企业|公司|房企|车企|厂商|品牌|客户|城市|省份|项目|产品|门店|"
    r"机构|银行|基金|国家|地区|平台|商户|用户|家庭|交易|订单)[^，,。；;]{0,3}?(?:有|共有|共|数量|合计|达到|达)(?![望所])"
)

_UP_TO = re.compile(r"(?:截至|截止到?|到)\s*$")


def times_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """True when both sides name years (or quarters) and none of them agree, or when one side is
    about the earlier period ("上年同期为…") and the other is not."""
    if not a and not b:
        return False
    if ("next" in a) != ("next" in b) and not any(t[0] == "y" for t in (a if "next" in b else b)):
        return True  # next year's figure against one of no stated year (this period's)
    if ("attr" in a) != ("attr" in b):
        return True  # a bar ("超过千亿元的企业有4家") against a figure someone reached
    if ("prev" in a) != ("prev" in b) and not ("from" in a or "from" in b) \
            and not any(t[0] == "y" for t in (a if "prev" in b else b)):
        return True  # the earlier period against a figure of no stated year (this period's)
    if ("rest" in a) != ("rest" in b):
        return True  # "HBM以外的DRAM营收" (what is left) against the whole or a part
    if not a or not b:
        return False
    bases = [t for t in a | b if t[0] == "b"]
    if bases and any(
        (t in b and t[1:] in a and t[1:] not in b) or (t in a and t[1:] in b and t[1:] not in a) for t in bases
    ):
        return True  # a figure of 二季度 against one compared with 二季度 ("较二季度增加3.2分钟")
    for prefix in ("y", "q", "h", "m"):
        xa = {t for t in a if t[0] == prefix}
        xb = {t for t in b if t[0] == prefix}
        if xa and xb and not xa & xb:
            return True
    # 年初 against 年末 (a stock at two dates); 全年 (a flow) goes with either
    return bool({"p:start", "p:end"} <= (a | b) and ("p:start" in a) != ("p:start" in b))


class TextReferents:
    """Referents of the numbers of one text; sentence boundaries are found once per text."""

    def __init__(self, text: str, *, carry_names: bool = True, lead: bool = False) -> None:
        """`carry_names`: a sentence that names nothing takes the names of the previous sentence of
        its paragraph ("甲骨文公布财报。其RPO为4550亿美元。" is about 甲骨文).

        Every referent's `terms` also hold the terms of the previous sentence of its paragraph (a
        subject named there), and with `lead` the terms of the text's first sentence: a source
        article names its subject up front ("正岳农牧发布2024年年报。…全年营收352亿元"), a report
        section does not, so `lead` is for stored sources only."""
        self.text = text
        self.carry_names = carry_names
        self._ends = [m.start() for m in _SENTENCE_END.finditer(text)]
        self._sentences: dict[tuple[int, int], _SentenceInfo] = {}
        self._topics: dict[int, frozenset[str]] = {}
        # Abbreviations the text defines ("跨境支付交易额（TPV）"): either form stands for the other in it
        self._abbr: dict[str, frozenset[str]] = {}
        for m in _ABBR_DEF.finditer(text):
            short = [t for t, _, _ in tokens(m.group(2))]
            long = frozenset(t for t, _, _ in tokens(m.group(1))) - STOP_BIGRAMS
            if len(short) == 1 and short[0].startswith("#") and len(long) >= 2:
                self._abbr[short[0]] = long
        self._lead: frozenset[str] = frozenset()
        self._lead_times: frozenset[str] = frozenset()
        if lead:
            e = self._ends[0] if self._ends else len(text)
            first = text[: min(e, SENTENCE_WINDOW)]
            self._lead = frozenset(t for t, _, _ in tokens(first))
            # "…披露2024年年报。报告期内，营收…": a sentence that names no period is about the lead's
            self._lead_times = frozenset(t for t in times_of(first) if t[0] == "y")

    def sentence_span(self, start: int, end: int) -> tuple[int, int]:
        i = bisect.bisect_left(self._ends, start)
        s = self._ends[i - 1] + 1 if i > 0 else 0
        j = bisect.bisect_left(self._ends, end)
        e = self._ends[j] if j < len(self._ends) else len(self.text)
        s = max(s, start - SENTENCE_WINDOW)
        e = min(e, end + SENTENCE_WINDOW)
        return s, e

    def clause_span(self, sentence: str, a: int, b: int) -> tuple[int, int]:
        """The clause of the number at sentence[a:b], clipped to NEAR_WINDOW each side."""
        cs = 0
        for m in _CLAUSE_END.finditer(sentence, 0, a):
            cs = m.end()
        after = _CLAUSE_END.search(sentence, b)
        ce = after.start() if after else len(sentence)
        return max(cs, a - NEAR_WINDOW), min(ce, b + NEAR_WINDOW)

    def _sentence(self, s: int, e: int) -> _SentenceInfo:
        """What every number of one sentence shares: its terms, names, times (computed once)."""
        key = (s, e)
        info = self._sentences.get(key)
        if info is not None:
            return info
        sentence = self.text[s:e]
        toks = tokens(sentence)
        own = frozenset(t for t, _, _ in toks)
        names = frozenset(t for t in own if is_named(t))
        context: frozenset[str] = frozenset()
        previous: frozenset[str] = frozenset()
        prev_names: frozenset[str] = frozenset()
        # a sentence with no subject of its own ("其RPO为…", "营收…，净利润…") is about the previous one's
        borrows = not names and (not (own - METRIC_TERMS - _BASIS_TERMS - _CHANGE_WORDS) or bool(PRONOUN.match(sentence)))
        before = self._previous_sentence(s)
        if before is not None:
            ps, pe = before
            previous = frozenset(t for t, _, _ in tokens(self.text[ps:pe]))
            prev_names = frozenset(t for t in previous if is_named(t)) | self._topic(ps)
            if self.carry_names and borrows:
                context = prev_names
        subject = (previous if borrows else frozenset()) | own
        info = _SentenceInfo(
            sentence, toks, own | previous | self._lead, names | context, context, times_of(sentence), subject,
            prev_names if self.carry_names else frozenset(), previous & METRIC_TERMS - _BASIS_TERMS,
        )
        self._sentences[key] = info
        return info

    def _topic(self, s: int) -> frozenset[str]:
        """Whom the paragraph is about at the sentence starting at `s`: the names of the first clause
        of that sentence or, when it names nobody there, of the sentences before it. "微软…资本支出为
        242亿美元；智能云业务营收为299亿美元，其中Azure…。公司表示，…将超过300亿美元": 公司 is 微软,
        not Azure, the last name said. At most TOPIC_SENTENCES back, within the paragraph."""
        cached = self._topics.get(s)
        if cached is None:
            cached = self._topics[s] = self._find_topic(s)
        return cached

    def _find_topic(self, s: int) -> frozenset[str]:
        for _ in range(TOPIC_SENTENCES):
            first = _CLAUSE_END.search(self.text, s)
            stop = min(first.start() if first else len(self.text), s + SENTENCE_WINDOW)
            head = self.text[s:stop].lstrip()
            found = frozenset(t for t, _, _ in tokens(head) if is_named(t)) if not head.startswith(_PART_OF) else frozenset()
            if found:
                return found
            before = self._previous_sentence(s)
            if before is None:
                return frozenset()  # the start of the paragraph
            s = before[0]
        return frozenset()

    def _previous_sentence(self, s: int) -> tuple[int, int] | None:
        """The span of the sentence before the one starting at `s`, when it is in the same paragraph."""
        if s <= 0:
            return None
        k = s - 1
        while k > 0 and self.text[k] in " \t":
            k -= 1
        if self.text[k] == "\n" and not (k > 0 and self.text[k - 1] != "\n"):
            return None  # a blank line: a new paragraph
        return self.sentence_span(k, k)

    def referent(self, start: int, end: int, unit: str = "") -> Referent:
        s, e = self.sentence_span(start, end)
        info = self._sentence(s, e)
        sentence, toks = info.sentence, info.tokens
        a, b = start - s, end - s
        cs, ce = self.clause_span(sentence, a, b)
        near = {t for t, ts, te in toks if ts < ce and te > cs}
        for short, long in self._abbr.items():  # "B2B贸易支付TPV为…" is about 交易额, and the reverse
            if short in near:
                near |= long
            elif len(long & near) * 2 > len(long):
                near.add(short)
        share_of = sentence.startswith(("占", "约占", "仅占", "已占"), cs)  # "…1.3亿元，占营收的2.4%": a share of the part before
        near -= _TIME_TOKENS
        generic = cs < a and _GENERIC_CLAUSE.fullmatch(sentence, cs, a) is not None and not sentence[b:ce].strip()
        said_from = cs  # where the words that say what the number is begin
        if cs > 0 and (share_of or generic or not (
            near - _BASIS_TERMS - _CHANGE_WORDS - RANK_WORDS - _BASIS_PHRASE - {t for t in near if is_named(t)}
        )):
            # "RPO达到4550亿美元，同比增长359%": a clause of generic words is about the previous one
            ps, _ = self.clause_span(sentence, max(0, cs - 2), max(0, cs - 1))
            borrowed = {t for t, ts, te in toks if ts < cs and te > ps}
            if ps > 0 and not borrowed & (METRIC_TERMS - _BASIS_TERMS):
                # "快递业务收入10,630亿元，首次在前三季度突破万亿元，同比增长8.9%": a clause between
                # that names no metric is an aside; the rate is about the metric before it
                pps, _ = self.clause_span(sentence, max(0, ps - 2), max(0, ps - 1))
                if {t for t, ts, te in toks if ts < ps and te > pps} & (METRIC_TERMS - _BASIS_TERMS):
                    ps = pps
            near |= {t for t, ts, te in toks if ts < ce and te > ps}
            said_from = ps
        role = role_of(self.text, start, end, unit)
        times = info.times
        if unit not in RATIO_UNITS:
            # "日均通行费收入约2,122万元", "每天的通行费收入", "3.9次/天": an amount per day is not the
            # half-year's total ("每位会员年均消费": per person and per year)
            pers = [*_PER.finditer(sentence, said_from, a)] + [m for m in [_PER_AFTER.match(sentence, b)] if m is not None]
            times = times | {"per:" + (m.lastgroup or "") for m in pers}
        own_year = _OWN_YEAR.search(sentence, max(0, a - 10), a)
        years = [t for t in times if t[0] == "y"]
        if own_year is not None:
            times = frozenset(t for t in times if t[0] != "y" and t != "b" + own_year.group(1)) | {"y" + own_year.group(1)}
        elif len(years) > 1 or (years and not _YEAR_LEFT.search(sentence, 0, a)):
            # "去年净利润为8.6亿元，而2023年亏损42.1亿元": a number's year is the nearest one to its left
            left = [m.group(1) for m in _YEAR_LEFT.finditer(sentence, 0, a) if not _is_base_year(sentence, m)]
            times = frozenset(t for t in times if t[0] != "y") | ({"y" + left[-1]} if left else frozenset())
        if any(t[0] == "q" for t in times):
            # "归母净利润62.1亿元，同比增长90.3%，其中第三季度单季…": a quarter named after a figure is not its
            quarter = quarter_before(sentence, a)
            times = frozenset(t for t in times if t[0] != "q") | quarter
        nearest = periods_before(sentence, a) if _PERIOD_HINT.search(sentence, 0, a) else frozenset()
        if nearest:  # the nearest month or period word to the left decides, not every one in the sentence
            times = frozenset(t for t in times if t[0] not in "mp" or t.startswith("per:")) | nearest
        if role.startswith("change"):
            # "由年初的9,860人减少至8,720人，减少约12%": a change runs between two dates, at neither
            times = times - {"p:start", "p:end"}
        if unit == "x":
            base = _BASE_OF_MULTIPLE.search(sentence, max(0, a - 12), a)
            if base is not None:  # "为2023年的2.1倍": 2023 is what it is compared with
                times = frozenset(t for t in times if t != "y" + base.group(1)) | self._lead_times
            bq = _BASE_QUARTER_OF_MULTIPLE.search(sentence, max(0, a - 10), a)
            if bq is not None:  # "二季度收入…为一季度的1.5倍": the quarter of the figure is the one before
                times = frozenset(t for t in times if t[0] != "q") | quarter_before(sentence, bq.start())
        if role == "level" and unit != "x" and from_level(self.text, start, end) and not previous_period(self.text, start, s, end):
            times = times | {"from"}
        elif role == "level" and unit != "x" and previous_period(self.text, start, s, end):
            # (not "是上年同期的2.3倍": a multiple compares with the earlier period, it is not its level)
            # said of the earlier period: with the text's own year known, that is the year before
            lead_years = [int(t[1:]) for t in self._lead_times]
            own = [int(t[1:]) for t in times if t[0] == "y"]
            near_year = [m for m in _YEAR_LEFT.finditer(sentence, max(0, a - 10), a)]
            if own and not near_year:
                # "2025年年报显示，…，上年为亏损8.6亿元": the sentence's year is the report's; the
                # figure is of the year before ("2024年同期为…" names its own year and keeps it)
                times = frozenset(t for t in times if t[0] != "y") | {f"y{max(own) - 1}"}
            if not own:
                # the year the text spoke of last ("2024年公司出栏…；…上年同期则亏损41亿元"), else the lead's
                earlier = [
                    m.group(1) for m in _YEAR_LEFT.finditer(self.text, max(0, s - 600), s)
                    if not _is_base_year(self.text, m)
                ]
                if earlier:
                    lead_years = [int(earlier[-1])]
            times = times | {"prev"} | ({f"y{max(lead_years) - 1}"} if lead_years and not own else set())
        elif not any(t[0] == "y" for t in times) and not _FUTURE.search(sentence, 0, a):
            # (not "比重将从目前的约18%升至近五成": a forecast is not of the year the article reports)
            times = times | self._lead_times
        if _FUTURE.search(sentence, 0, a):
            times = times | {"fut"}  # "预计全年将超过1.3亿人次": a forecast, not what was reached
        if _NEXT_YEAR.search(sentence, cs, a) or _NEXT_YEAR.match(sentence):
            # "明年增速将放缓至15%-20%": next year's figure, not this period's
            times = times | {"next"}
        if "from" in times:  # "计划明年将算力从2.6万卡扩展至六万卡": 明年 and 计划 are the new level's
            times = times - {"fut", "next"}
        clause_before = self.clause_span(sentence, max(0, cs - 2), max(0, cs - 1))[0] if cs > 0 else 0
        if unit not in RATIO_UNITS and left_out(sentence, clause_before, a):
            times = times | {"rest"}  # "HBM以外的DRAM营收", "除A和B外，其余…": what is left of a whole
        if _ATTRIBUTE_AFTER.match(sentence, b):
            # "销售额超过千亿元的企业有4家": a bar that things are counted by, not anyone's figure
            times = times | {"attr"}
        head = head_terms(toks, cs, a, sentence)
        if sentence.startswith("的", b) and not _RATE_AFTER.match(sentence, b):
            # "412亿元的营收中": the metric follows the number
            head = frozenset(t for t, ts, te in toks if b < ts <= b + 3 and te <= ce and not is_named(t))
        own_head = bool(head)
        respective = respectively(sentence, a, toks)
        listed: frozenset[str] = frozenset()
        if respective is not None:
            # "营收、归母净利润分别增长9.6%和15.2%": the k-th figure is about the k-th item
            item_terms, basis, direction, listed = respective
            if item_terms:
                head, own_head = item_terms, True
                near = (near - _CHANGE_WORDS) | item_terms
            elif cs > 0:
                ps, _ = self.clause_span(sentence, max(0, cs - 2), max(0, cs - 1))
                near |= {t for t, ts, te in toks if ts < cs and te > ps}
            if direction and unit in RATIO_UNITS:
                role = f"change:{direction}:{basis}"
            near -= listed
        named = {t for t in near if is_named(t)}
        if cs == 0 and near & (RANK_WORDS | named) and not (near - _BASIS_TERMS - _CHANGE_WORDS - RANK_WORDS - named):
            # "SK海力士DRAM营收136亿美元。…美光以82亿美元排名第三": a clause of a subject and a rank
            # leaves its metric to the sentence before (weakly: not its own metric word)
            near |= info.previous_metrics
            if not own_head:
                head = frozenset()
        if not head:
            head = frozenset(t for t in near if not is_named(t) and t not in _BASIS_TERMS)
        # Who the number is about stands before it or in its clause (topic before comment): the
        # words of later clauses are the subjects of later numbers ("在312.8亿元的营收中，自营投资
        # 贡献112.7亿元": 自营投资 is not the total's subject).
        later = frozenset(t for t, ts, _ in toks if ts >= ce) - frozenset(t for t, ts, _ in toks if ts < ce)
        attribution = _ATTRIBUTION.match(sentence)
        if attribution is not None and attribution.end() <= cs:
            # "据公开资料，…" / "据海关总署数据，…": who says it is not whom it is about
            later |= frozenset(t for t, ts, te in toks if te <= attribution.end() and not is_named(t))
        names, context = info.names - later - listed, info.context
        owner = [t for t, ts, te in toks if te <= a and sentence[te:a] in ("的", "以") and is_named(t)]
        if owner and len(names) > 1:
            # "低于亚马逊的314亿美元和微软的242亿美元": the name right before the figure is its subject
            near -= names - {owner[-1]}
            names = frozenset({owner[-1]})
        clause_names = frozenset(t for t, ts, te in toks if cs <= ts and te <= ce and is_named(t)) - listed
        if cs > 0 and clause_names and len(names) > 1 and clause_names < names:
            # "江苏省产量为128.6万辆，广东省为253.7万辆": a clause that names its own subject is about it,
            # not about the names of the clauses before
            names = clause_names
        if not names and info.names - listed:
            # "…；智能云业务营收为299亿美元，…其中Azure…": a name only after the number is a later
            # number's subject; this one's is the previous sentence's
            names = context = info.previous_names
        subject = info.subject - later
        own_words = {t for t, ts, te in toks if cs <= ts and te <= ce} - METRIC_TERMS - _BASIS_TERMS - _CHANGE_WORDS
        if cs > 0 and own_words - {t for t in own_words if is_named(t)}:
            # "今年大促周期较去年拉长约一周，全网GMV录得26.6%的同比增幅": a clause before with a figure of
            # its own is that figure's subject; this one names its own (全网GMV)
            subject -= _earlier_figure_clauses(sentence, toks, cs)
        return Referent(
            frozenset(near), info.terms, times, sentence.strip(), names, role, context, head, own_head, subject,
        )


CLAUSE_STOP = re.compile("[，,。；;：:]")  # a clause ends (for splitting a sentence into its clauses)
_FIGURE = re.compile(r"(?<![A-Za-z0-9])[0-9][0-9.,]*(?![0-9]*[年月日季])|[一二两三四五六七八九十百]+(?:成|倍|个百分点)|翻(?:了)?一?番")


_ANY_FIGURE = re.compile(r"[0-9]|[一二两三四五六七八九十半]+个?(?:周|年|月|季度|天|小时|倍|成)")


def _earlier_figure_clauses(sentence: str, toks: tuple[tuple[str, int, int], ...], before: int) -> frozenset[str]:
    """The unnamed words of the clauses before `before` that hold a figure of their own."""
    out: set[str] = set()
    start = 0
    for m in CLAUSE_STOP.finditer(sentence, 0, before):
        if _ANY_FIGURE.search(sentence, start, m.start()):
            out |= {t for t, ts, te in toks if start <= ts and te <= m.start() and not is_named(t)}
        start = m.end()
    return frozenset(out)


def _figures(sentence: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Spans of the figures in sentence[lo:hi] (not years, dates or model numbers)."""
    return [(m.start(), m.end()) for m in _FIGURE.finditer(sentence, lo, hi)]


_RESPECTIVE_VERB = re.compile(rf"(?:为|是|达|达到)?(?P<basis>同比|环比)?(?P<dir>{_UP}|{_DOWN})")
_ITEM_SPLIT = re.compile("、|以及|和|与|及|/")
_NUMBER_LIKE = re.compile(r"[0-9][0-9.,]*|[一二两三四五六七八九十百]+(?:成|倍|个百分点)|翻(?:了)?一?番")


def respectively(
    sentence: str, at: int, toks: tuple[tuple[str, int, int], ...]
) -> tuple[frozenset[str], str, str, frozenset[str]] | None:
    """For a figure after "分别" ("营收、净利润分别增长9.6%和15.2%"; "同比、环比分别增长9.8%和3.5%"):
    the terms of the item it answers to, for 同比/环比 items the basis, the direction, and the terms of
    the list's other items. None when not such a list."""
    p = sentence.rfind("分别", max(0, at - 30), at)
    if p < 0 or any(ch in sentence[p:at] for ch in "。；;"):
        return None
    k = len(_NUMBER_LIKE.findall(sentence[p:at]))  # how many figures of the list come before this one
    # the items: the clause before 分别, or the previous clause when 分别 opens one
    cs = max(sentence.rfind(ch, 0, p) for ch in "，,：:；;") + 1
    region = sentence[cs:p]
    if not region.strip(" ，,"):
        prev = max(sentence.rfind(ch, 0, max(0, cs - 1)) for ch in "，,：:；;") + 1
        region = sentence[prev : max(0, cs - 1)]
        cs = prev
    parts, pos = [], 0
    for m in _ITEM_SPLIT.finditer(region):
        parts.append((pos, m.start()))
        pos = m.end()
    parts.append((pos, len(region)))
    if len(parts) >= 2 and k < len(parts):
        a, b = parts[k]
        item = region[a:b]
        basis = "yoy" if "同比" in item else ("qoq" if "环比" in item else "")
        terms = frozenset(
            t for t, ts, te in toks
            if cs + a <= ts and te <= cs + b and t not in _BASIS_TERMS and not is_named(t) and t not in _CHANGE_WORDS
        )
        mine = frozenset(t for t, ts, te in toks if cs + a <= ts and te <= cs + b)
        # "惠普和戴尔分别出货1,440万台和1,010万台": the other items are the other figures' subjects
        # (not "镍、钴、锰的回收率": what follows 的 in the last item is every item's metric)
        shared = region.rfind("的", parts[-1][0])
        cut = [(x, shared if j == len(parts) - 1 and shared > x else y) for j, (x, y) in enumerate(parts)]
        others = frozenset(
            t for j, (x, y) in enumerate(cut) if j != k for t, ts, te in toks
            if cs + x <= ts and te <= cs + y and t not in METRIC_TERMS
        ) - mine
    else:
        # "营收214.6亿元，归母净利润42.3亿元，分别同比增长16.8%和47.5%": the items are the figures
        # before the list, one for one; the k-th rate is about the k-th of them
        end = CLAUSE_STOP.search(sentence, p)
        n = len(_figures(sentence, p, end.start() if end else len(sentence)))
        before = _figures(sentence, 0, p)
        if n < 2 or k >= n or len(before) < n:
            return None
        targets = before[-n:]
        fs, _ = targets[k]
        inner = respectively(sentence, fs, toks)  # those figures may be a 分别 list themselves
        if inner is not None and inner[0]:
            terms = inner[0]
        else:
            lo = targets[k - 1][1] if k > 0 else (before[-n - 1][1] if len(before) > n else 0)
            terms = head_terms(toks, lo, fs, sentence)
        basis = "yoy" if "同比" in region else ("qoq" if "环比" in region else "")  # "同比分别增长…"
        others = frozenset()
    verb = _RESPECTIVE_VERB.match(sentence, p + 2)
    direction = ""
    if verb is not None:
        direction = "down" if _DOWN_RE.match(verb.group("dir")) else "up"
        basis = basis or ("yoy" if verb.group("basis") in ("同比",) else ("qoq" if verb.group("basis") else ""))
    return terms, basis, direction, others


@dataclass(frozen=True)
class _SentenceInfo:
    sentence: str
    tokens: tuple[tuple[str, int, int], ...]
    terms: frozenset[str]
    names: frozenset[str]
    context: frozenset[str]
    times: frozenset[str]
    subject: frozenset[str]  # the sentence's own terms, and the previous sentence's when it borrows its subject
    previous_names: frozenset[str] = frozenset()  # names of the previous sentence of the paragraph
    previous_metrics: frozenset[str] = frozenset()  # metric words of the previous sentence of the paragraph


#: A subject by pronoun: the sentence is about whoever the text before it names.
PRONOUN = re.compile(r"(?:[^，,。]{0,8}[，,])?(?:该[\u4e00-\u9fff]{1,3}?(?=[^\u4e00-\u9fff]|[共有的在为是已将去今上前全实营收净占])|其|这家[^，,。]{0,4}?|公司|集团|企业)")

_ATTRIBUTION = re.compile(
    r"\s*(?:(?:据|根据)[^，,。；;]{1,14}"
    # "作者测算，", "分析师指出，": who judges is not whom it is about; but "极盛科技表示，" is the
    # company speaking of itself, so only the words of authors, analysts and institutions count
    r"|[^，,。；;]{0,6}(?:作者|笔者|文章|报告|研报|分析师|分析人士|业内人士|专家|机构|券商|研究院|人士)"
    r"[^，,。；;]{0,4}?(?:指出|显示|表示|测算|估算|认为|预计|分析|透露|披露|提到))[，,：:]"
)
_BASE_QUARTER_OF_MULTIPLE = re.compile(r"(?:上一|第)?[一二三四1-4](?:财季|季度)的?\s*$")
_BASE_OF_MULTIPLE = re.compile(r"((?:19|20)[0-9]{2})\s?年(?:同期|全年)?的?\s*$")
_PERIOD_HINT = re.compile("月|年初|期初|年中|年末|年底|期末|末期|全年|年度")


_BASIS_TERMS = frozenset({"同比", "环比"})
_CHANGE_WORDS = frozenset(w for w in (_UP + "|" + _DOWN + "|" + _RATE_WORDS).split("|") if len(w) == 2) | frozenset(
    a + b for a in "微略小大骤猛激回抬攀跃飙暴陡锐稳续再" for b in "增升涨降跌减滑缩扩"  # 微降, 小幅, 回升: how, not what
) | frozenset(
    "小幅 大幅 略有 略微 稍有 明显 显著 持续 继续 同步 均有 双双 放缓 加快 提速 降速 走高 走低 下探 上行 下行 反弹 企稳 趋缓 幅度 调幅 升幅 涨幅 降幅 跌幅 增幅".split()
)
#: Words of rank and order: "美光以82亿美元排名第三" names no metric; the clause before does.
_PART_OF = ("其中", "包括", "含")  # "其中Azure收入…": a part of the subject, not the subject
TOPIC_SENTENCES = 4  # how far back a paragraph's subject is looked for
RANK_WORDS = frozenset(
    "排名 名第 第一 第二 第三 第四 第五 位居 居第 位列 列第 名列 居首 领先 排在 在第 仅次 次于 紧随 随其 其后 紧跟".split()
)
#: Words of how a figure is counted ("按可比口径", "以美元计"): the clause's metric is the one before.
_BASIS_PHRASE = frozenset("按可 可比 比口 口径 计算 按照 美元 元计 人民 民币 币计".split())
#: Words of when that bigrams make of "较前一周", "本周": never a metric word or a clause's content.
_TIME_TOKENS = frozenset("前一 一周 本周 上周 当周 本月 上月 当月 同月 前一周".split())
HEAD_CHARS = 12  # how far before the number its metric word may stand ("营收同比增长了约" is 8)


def head_terms(
    toks: tuple[tuple[str, int, int], ...], clause_start: int, number_start: int, sentence: str = ""
) -> frozenset[str]:
    """The last two metric-like terms before the number, inside its clause and within HEAD_CHARS
    (not a verb of change: "多出", "攀升", "压缩到" say how the metric moved, not which it is)."""
    asides = [(x, y) for x, y in aside_spans(sentence) if y <= number_start]
    lo = max(clause_start, number_start - HEAD_CHARS - sum(y - x for x, y in asides if x >= clause_start))
    verbs = {i for i in range(lo, number_start) if sentence[i : i + 1] in ("至", "到")}
    picked = [
        t for t, ts, te in toks
        if ts >= lo and te <= number_start and t not in _BASIS_TERMS and t not in ENTITY_NAMES and t not in _CHANGE_WORDS
        and te not in verbs and not _in_aside(t, ts, te, asides) and t not in _TIME_TOKENS
    ]
    return frozenset(picked[-2:])


def aside_spans(sentence: str) -> list[tuple[int, int]]:
    """Spans of the bracketed asides of a sentence: "资本支出（含融资租赁）为242亿美元" says in brackets
    what the metric includes, "（截至6月30日）" when: neither is the metric word."""
    if "（" not in sentence and "(" not in sentence:
        return []
    return [(m.start(), m.end()) for m in _ASIDE.finditer(sentence)]


def _in_aside(term: str, start: int, end: int, asides: list[tuple[int, int]]) -> bool:
    """A word inside an aside, other than an abbreviation ("高带宽内存（HBM）": HBM names the metric)."""
    return not term.isascii() and term[0] != "#" and any(x <= start and end <= y for x, y in asides)


_ASIDE = re.compile(r"（[^（）]{1,30}）|\([^()]{1,30}\)")
