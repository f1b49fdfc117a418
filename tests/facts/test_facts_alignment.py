"""Which source statement a claim is about: rules of Chinese business writing that decide alignment.

Each test is one rule, in passages written for these tests (invented companies and figures): who a
pronoun names, what a rank or a list leaves out, which of two figures of one change is the earlier,
and which figures are bars, bases or next year's. Each rule was found on the evaluation set's dev
half and is stated here in other words and numbers.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.facts.check import CONTRADICTED, UNSUPPORTED, VERIFIED, check_text
from pipeline.facts.referents import times_of
from pipeline.facts.store import FactStore


def store_of(tmp_path: Path, text: str, name: str = "source") -> FactStore:
    s = FactStore(tmp_path / f"{name}.db")
    s.import_text(text, title=name, url=f"https://example.com/{name}")
    return s


def status_of(text: str, span: str, store: FactStore) -> str:
    found = {c.text: c.status for c in check_text(text, store).claims}
    assert span in found, (span, found)
    return found[span]


def test_a_pronoun_names_the_paragraphs_subject_not_the_last_name_said(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "微软本财季智能云收入为255亿美元，同比增长20%；其中Azure收入同比增长31%，增速连续三个季度加快。"
        "公司表示，下一财季资本支出将超过280亿美元。"
    ))
    # 公司 is 微软, the subject of the paragraph, not Azure, the last name before it
    assert status_of("微软预计下一财季的资本支出将超过280亿美元。", "超过280亿美元", s) == VERIFIED


def test_rank_words_are_not_the_subject_and_a_list_gives_each_figure_its_own(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "今年前三季度，国内平板电脑出货量为2,310万台。其中华耀出货610万台，位居第一；"
        "朗科和青松分别出货420万台和388万台。"
    ))
    assert status_of("朗科以420万台的出货量位居第二。", "420万台", s) == VERIFIED
    assert status_of("青松以388万台的出货量排名第三。", "388万台", s) == VERIFIED


def test_a_clause_of_a_name_and_a_rank_takes_the_metric_of_the_sentence_before(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "分厂商看，海力士以143亿美元的NAND营收位居第一，份额为35.1%。铠侠以97亿美元排名第二，份额为23.8%。"
    ))
    assert status_of("铠侠三季度NAND营收97亿美元，市占率23.8%。", "97亿美元", s) == VERIFIED


def test_from_a_to_b_a_is_the_earlier_level_and_b_the_new_one(tmp_path: Path) -> None:
    s = store_of(tmp_path, "甲骨文二季度资本支出为85亿美元，公司将全年资本支出指引从250亿美元上调至350亿美元。")
    claim = "甲骨文把全年资本支出指引上调至350亿美元，此前为250亿美元。"
    assert status_of(claim, "350亿美元", s) == VERIFIED
    assert status_of(claim, "250亿美元", s) == VERIFIED
    # a change ("上调了100亿美元") is not the new level: it is never contradicted by it
    assert status_of("甲骨文将全年资本支出指引上调了100亿美元。", "100亿美元", s) != CONTRADICTED


def test_the_name_right_before_a_figure_is_its_subject(tmp_path: Path) -> None:
    s = store_of(tmp_path, "亚马逊二季度资本支出为310亿美元。微软同期资本支出为190亿美元。谷歌二季度资本支出为170亿美元。")
    claim = "谷歌二季度资本支出170亿美元，低于亚马逊的310亿美元和微软的190亿美元。"
    assert status_of(claim, "190亿美元", s) == VERIFIED
    assert status_of(claim, "310亿美元", s) == VERIFIED
    assert status_of("谷歌二季度资本支出170亿美元，低于亚马逊的190亿美元。", "190亿美元", s) != VERIFIED


def test_a_bar_a_group_is_counted_by_is_nobodys_figure(tmp_path: Path) -> None:
    s = store_of(tmp_path, "1—10月，累计销售额超过千亿元的房企有5家，较去年同期减少2家。")
    assert status_of("公司1—10月累计销售额超过千亿元。", "超过千亿元", s) != VERIFIED
    assert status_of("累计销售额超过千亿元的房企有5家。", "5家", s) == VERIFIED


def test_a_figure_of_one_listed_peer_is_not_another_peers(tmp_path: Path) -> None:
    s = store_of(tmp_path, "从客源地看，泰国、越南、印尼位列前三，其中泰国游客同比增长约64%，越南游客增长约29%。")
    assert status_of("泰国游客同比增长约64%。", "约64%", s) == VERIFIED
    assert status_of("越南游客同比增长约64%。", "约64%", s) != VERIFIED


def test_a_pronoun_with_its_own_part_does_not_take_any_share(tmp_path: Path) -> None:
    s = store_of(tmp_path, "分品类看，液体乳业务收入612.4亿元，同比下降6.2%，占总收入的57%。")
    # 国际航线 says which part: a 57% share of something else is no evidence
    assert status_of("公司国际航线收入占比为57%。", "57%", s) == UNSUPPORTED
    assert status_of("公司液体乳业务收入占比为57%。", "57%", s) == VERIFIED


def test_next_years_figure_is_not_this_periods(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "车研所数据显示，11月新能源乘用车出口11.2万辆，同比增长16%。"
        "车研所预计，全年出口有望达到120万辆左右，明年增速将放缓至12%-18%。"
    ))
    assert status_of("车研所预计明年新能源乘用车出口增速将回落到12%至18%之间。", "12%至18%", s) == VERIFIED
    assert status_of("车研所称11月新能源乘用车出口同比增长12%至18%。", "12%至18%", s) != VERIFIED


def test_an_aside_in_brackets_is_not_the_metric_word(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "甲骨文本财季（截至8月31日）资本支出（含融资租赁）为85亿美元，同比增长210%。"
        "公司预计下一财季资本支出将超过100亿美元。"
    ))
    claim = "甲骨文本财季资本支出为85亿美元，预计下一财季将超过100亿美元。"
    assert status_of(claim, "85亿美元", s) == VERIFIED


def test_a_month_compared_with_is_not_the_figures_month(tmp_path: Path) -> None:
    s = store_of(tmp_path, "10月末M2余额为300.1万亿元，同比增长7.2%，增速比上月末低0.3个百分点。")
    # 9月末 is the base: the claim is about October's growth; and 7.2% is not 0.3个百分点 in another unit
    assert status_of("M2增速较9月末回落0.3个百分点。", "0.3个百分点", s) != CONTRADICTED


def test_a_unit_error_is_the_same_number_in_another_unit(tmp_path: Path) -> None:
    s = store_of(tmp_path, "青禾乳业上半年毛利率为31.4%，同比提升2.6个百分点；营收同比增长18.5%。")
    assert status_of("青禾乳业上半年毛利率同比提升2.6%。", "2.6%", s) == CONTRADICTED
    assert status_of("青禾乳业上半年毛利率同比提升2.6个百分点。", "2.6个百分点", s) == VERIFIED


def test_a_rate_word_after_the_figure_makes_it_a_rate(tmp_path: Path) -> None:
    s = store_of(tmp_path, "星图观察数据显示，今年大促期间全网电商交易总额（GMV）为12,870亿元，同比增长21.4%。")
    assert status_of("全网GMV录得21.4%的同比增幅。", "21.4%", s) == VERIFIED
    assert status_of("全网GMV录得24.1%的同比增幅。", "24.1%", s) != VERIFIED


def test_a_clause_with_a_figure_of_its_own_is_not_the_next_figures_subject(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "今年大促期间全网GMV为12,870亿元，同比增长21.4%。"
        "由于今年大促周期较去年拉长了约一周，按可比口径计算，GMV同比增长约8%。"
    ))
    # 拉长约一周 is the subject of 一周; 全网GMV is this figure's, and the source states it
    assert status_of("今年大促周期较去年拉长约一周，全网GMV录得21.4%的同比增幅。", "21.4%", s) != CONTRADICTED


def test_who_says_it_is_not_whom_it_is_about(tmp_path: Path) -> None:
    s = store_of(tmp_path, "若票价下调两成，要保持门票收入不变，客流需增加约25%；而这类景区客流的平均增速只有5%到7%。")
    assert status_of("作者测算，门票降价20%后，客流需增长约25%才能保持门票收入不变。", "约25%", s) == VERIFIED


def test_outperforming_is_a_difference(tmp_path: Path) -> None:
    s = store_of(tmp_path, "受此带动，医药指数上半年累计上涨19.6%，跑赢沪深300指数约14个百分点。")
    assert status_of("医药指数上半年涨了19.6%，比沪深300多涨约14个百分点。", "约14个百分点", s) == VERIFIED


def test_a_rate_stated_in_a_sentence_about_rates_is_a_rate(tmp_path: Path) -> None:
    s = store_of(tmp_path, "分析师指出，四季度旺季运价涨幅可能低于市场预期的8%-12%。")
    assert status_of("市场原本预期四季度旺季运价上涨8%至12%。", "8%至12%", s) == VERIFIED


def test_a_forecast_is_not_of_the_year_the_article_reports(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "2024年全国数据中心用电量约为1,520亿千瓦时，同比增长17%。"
        "其中，智算服务器的用电量增长最快，其在数据中心用电中的比重将从目前的约16%升至四成左右。"
    ))
    assert status_of("智算服务器用电占比目前约为16%，2030年将升至四成左右。", "四成左右", s) == VERIFIED


def test_last_years_level_with_the_words_between(tmp_path: Path) -> None:
    s = store_of(tmp_path, "全年整体翻台率为4.1次/天，高于上年的3.7次/天；前三季度营收为8.4亿元，已超过去年全年的7.9亿元。")
    assert status_of("翻台率由上年的每天3.7次提高到4.1次。", "3.7次", s) == VERIFIED
    assert status_of("前三季度营收8.4亿元，超过了去年全年7.9亿元的收入。", "7.9亿元", s) == VERIFIED


def test_a_forecast_and_a_figure_reached_do_not_compete(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "今年前三季度，全国入境游客达到8,640万人次，同比增长41.2%。"
        "业内人士预计，全年入境游客有望突破1.2亿人次。"
    ))
    assert status_of("业内预计，全年入境游客将超过1.2亿人次。", "超过1.2亿人次", s) == VERIFIED
    # a forecast never contradicts what was reached
    assert status_of("前三季度入境游客达到1.2亿人次。", "1.2亿人次", s) != VERIFIED


def test_a_part_the_claim_does_not_name_is_not_its_rival(tmp_path: Path) -> None:
    s = store_of(tmp_path, "风电新增装机712万千瓦，同比增长约11%，其中海上风电新增约160万千瓦。")
    assert status_of("风电去年新增712万千瓦，增幅在11%左右。", "712万千瓦", s) == VERIFIED
    assert status_of("海上风电新增约160万千瓦。", "约160万千瓦", s) == VERIFIED
    assert status_of("海上风电新增约190万千瓦。", "约190万千瓦", s) != VERIFIED


def test_container_units_are_units(tmp_path: Path) -> None:
    s = store_of(tmp_path, "截至9月末，全球集装箱船队运力约为3,240万TEU；亚欧航线停航涉及运力约48万TEU。")
    assert status_of("全球集装箱船队运力约为3,240万标准箱。", "约为3,240万标准箱", s) == VERIFIED
    # a forty-foot box is not a twenty-foot one: the same number in another unit is not verified
    assert status_of("亚欧航线停航涉及运力约48万FEU。", "约48万FEU", s) != VERIFIED


def test_a_province_is_a_subject(tmp_path: Path) -> None:
    s = store_of(tmp_path, "其中，江苏年度成交均价为0.378元/千瓦时；广东成交均价0.391元/千瓦时，同比下降7.4%；山东则为0.366元/千瓦时。")
    assert status_of("广东年度成交均价为0.391元/千瓦时。", "0.391元", s) == VERIFIED
    assert status_of("山东年度成交均价为0.391元/千瓦时。", "0.391元", s) != VERIFIED


def test_week_on_week_and_since_are_bases(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "本周出口集装箱运价综合指数报1,342.6点，环比下跌3.9%。"
        "动力煤平仓价报812元/吨，周环比上涨18元/吨，较9月初低点累计反弹约11%。"
    ))
    assert status_of("综合指数本周收于1342.6点，较上周下降3.9%。", "3.9%", s) == VERIFIED
    assert status_of("动力煤平仓价本周升至每吨812元，比前一周上涨18元。", "18元", s) == VERIFIED
    # 自9月初…以来 and 较9月初 are bases, not the period of the figure
    assert "m9" not in times_of("自9月初触底以来，动力煤价格已累计回升约11%。")
    assert "m9" not in times_of("较9月初低点累计反弹约11%。")


def test_the_first_level_of_a_change_is_earlier_but_not_a_past_period(tmp_path: Path) -> None:
    s = store_of(tmp_path, "公司计划明年将可调度算力从2.6万卡扩展至六万卡；领取环节税率拟从3%降至1.5%。")
    # a plan's first level is today's: stated plainly, it verifies
    assert status_of("公司目前可调度算力约2.6万卡。", "约2.6万卡", s) == VERIFIED
    assert status_of("税率拟从3%降至1.5%。", "3%", s) == VERIFIED
    # and it never contradicts a claim of the new level
    assert status_of("公司计划明年将可调度算力扩展至六万卡。", "六万卡", s) == VERIFIED


def test_a_change_and_the_new_level_are_two_figures_a_range_is_one() -> None:
    from pipeline.facts.extract import extract_claims

    def spans(text: str) -> list[str]:
        return [c.text for c in extract_claims(text)]

    assert spans("主品牌门店较6月末净减少52家至6,318家。") == ["52家", "6,318家"]
    assert spans("橱柜收入下降近一成至38.6亿元。") == ["近一成", "38.6亿元"]
    assert spans("公司计划下半年再净增900至1,100家。") == ["900至1,100家"]  # a range of additions
    assert spans("预计运价上涨10%至15%。") == ["10%至15%"]  # a range of rates
    assert spans("新片拿下约四成份额。") == ["约四成"]
    assert spans("这种矿物成份复杂。") == []


def test_an_approximation_word_before_zhan_bounds_the_share(tmp_path: Path) -> None:
    s = store_of(tmp_path, "其中，移动游戏收入228.4亿元，同比增长10.6%，占整体市场的74.6%。")
    assert status_of("移动游戏收入约占整体市场的四分之三。", "四分之三", s) == VERIFIED
    assert status_of("移动游戏收入占整体市场的四分之三。", "四分之三", s) == CONTRADICTED  # 75 is not 74.6


def test_an_abbreviation_the_source_defines_stands_for_its_words(tmp_path: Path) -> None:
    s = store_of(tmp_path, (
        "全年公司处理的跨境支付交易额（TPV）为1.46万亿元，同比增长38.1%。"
        "其中B2B贸易支付TPV为3,120亿元，是上年的2.2倍。"
        "新业务价值（NBV）为284.6亿元，按可比口径同比增长24.3%。"
    ))
    assert status_of("B2B贸易支付交易额为3120亿元。", "3120亿元", s) == VERIFIED
    assert status_of("据公司公告，NBV同比增长24.3%。", "24.3%", s) == VERIFIED


def test_a_company_speaking_of_itself_is_still_the_subject(tmp_path: Path) -> None:
    s = store_of(tmp_path, "Astra80的训练速度为2.9倍，同比增长204%。")
    # "极盛科技表示，" names the subject; only authors, analysts and institutions are mere speakers
    assert status_of("极盛科技表示，训练速度约2.9倍。", "约2.9倍", s) != VERIFIED
    t = store_of(tmp_path, "若票价下调两成，要保持门票收入不变，客流需增加约25%。", "t")
    assert status_of("作者测算，门票降价20%后，客流需增长约25%。", "约25%", t) == VERIFIED
