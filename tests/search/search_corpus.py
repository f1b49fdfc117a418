"""Texts of the test corpus (written for these tests) and a writer; imported by conftest and tests."""

from __future__ import annotations

from pathlib import Path

STORAGE = """---
title: 工商业储能的收益测算
url: https://example.org/storage
publisher: 示例能源观察
date: 2024-03-18
---
# 工商业储能的收益测算

峰谷电价差拉大以后，工商业用户配置储能柜的回收期明显缩短。以江浙地区为例，两充两放的运行策略可以让一套储能系统在六年左右收回投资。

磷酸铁锂电芯价格在过去一年下降了四成以上，系统集成商之间的价格竞争也更加激烈。业内人士提醒，低价中标的项目需要关注循环寿命和消防安全。

除了峰谷套利，需量管理和需求响应补贴也是储能项目的重要收入来源。
"""

PHOTOVOLTAIC = """---
title: 分布式光伏并网难题
url: https://example.org/pv?utm_source=feed
date: "2023-11-02"
---
部分县域的配电网已经接近承载上限，新增的屋顶光伏项目排队等待接入。电网公司开始要求新项目配置一定比例的储能或者参与调峰。

组件价格持续走低，但并网消纳成为新的瓶颈。地方政府正在探索整县推进模式下的收益分配方案。
"""

COMPUTE = """---
title: 智算中心的利用率
date: 2024-06-30
---
过去两年各地密集上马智算中心，但不少机房的GPU利用率偏低。算力调度平台试图把闲置资源出租给中小模型团队，训练任务和推理任务的混合调度仍有技术难点。

液冷改造提高了单机柜功率密度，也让老旧机房的改造成本居高不下。
"""

# No front matter: title falls back to the file stem, url to the file URI.
TEA = """云南普洱的茶农今年春茶收购价小幅上涨，古树茶的溢价依然明显。电商直播让一部分茶园直接面对消费者，中间环节的利润被压缩。

雨水偏少导致部分山头减产，茶企开始储备秋茶以稳定全年供应。
"""

# GB18030 on disk (the way many Chinese Windows tools save text).
EV_EXPORT_GB = """---
title: 新能源汽车出口的新市场
url: https://example.org/ev-export
---
东南亚和中东成为国产电动车出口增长最快的地区。部分车企在泰国建设整车工厂，以本地化生产应对关税壁垒。

滚装船运力紧张推高了海运费用，车企开始自建船队。
"""

MALFORMED = """---
title: [未闭合的列表
date: 2024-01-01
---
这篇文档的前置元数据有语法错误，应当被跳过。
"""


def write_corpus(root: Path) -> Path:
    """Write the test corpus below `root`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "storage.md").write_text(STORAGE, encoding="utf-8")
    (root / "pv.md").write_text(PHOTOVOLTAIC, encoding="utf-8")
    sub = root / "tech"
    sub.mkdir(exist_ok=True)
    (sub / "compute.md").write_text(COMPUTE, encoding="utf-8")
    (root / "tea.txt").write_text(TEA, encoding="utf-8")
    (root / "ev-export.md").write_bytes(EV_EXPORT_GB.encode("gb18030"))
    (root / "broken.md").write_text(MALFORMED, encoding="utf-8")
    (root / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (root / "facts.yaml").write_text("not: a document\n", encoding="utf-8")  # not a text suffix: ignored
    return root
