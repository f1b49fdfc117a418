"""Hostile strings as they might arrive from a search result (title, URL, snippet), for the HTML tests.

Each one tries a different way to run script, load remote content or restyle the page once the
markdown report is turned into HTML."""

from __future__ import annotations

HOSTILE: list[str] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[点击查看](javascript:alert(1))",
    '<a href="javascript:alert(1)">官方公告</a>',
    '<a href="JaVaScRiPt:alert(1)">大小写混写</a>',
    '<a href="java&#x09;script:alert(1)">制表符拆分</a>',
    '<a href="&#106;avascript:alert(1)">实体编码</a>',
    '<a href="vbscript:msgbox(1)">vb</a>',
    '<iframe src="https://evil.example/"></iframe>',
    "[数据下载](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<svg onload=alert(1)><circle r="1"/></svg>',
    '<div style="background:url(javascript:alert(1))">样式注入</div>',
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">全屏覆盖</p>',
    "<style>body{display:none}</style>",
    '<link rel="stylesheet" href="https://evil.example/x.css">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    '<base href="https://evil.example/">',
    '<form action="https://evil.example/"><input name="q"><button>提交</button></form>',
    '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x.swf">',
    '<math><mi xlink:href="javascript:alert(1)">公式</mi></math>',
    '<p onmouseover="alert(1)">悬停</p>',
    "<details open ontoggle=alert(1)>展开</details>",
    "<scr<script>ipt>alert(1)</script>",
    "<!--<script>alert(1)</script>-->",
    "正常标题](javascript:alert(1)) [继续",
    "![图片](javascript:alert(1))",
    "[参考][1]\n\n[1]: javascript:alert(1)",
    "<javascript:alert(1)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    '<textarea><script>alert(1)</script></textarea>',
    '<a href="//evil.example/x">协议相对地址</a>',
    "<template><script>alert(1)</script></template>",
]
