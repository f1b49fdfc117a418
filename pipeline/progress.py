"""Progress on stderr with rich: which worker, loop and step is running, and what each LLM call cost.

stdout is reserved for the paths of the files written (other tools read its last line, the report), so
everything here goes to stderr, and `--quiet` silences all but warnings.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the CLI imports this module before anything heavy
    from pipeline.models import Manifest


class Progress:
    def __init__(self, quiet: bool = False) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False, soft_wrap=True)
        self.started = time.perf_counter()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _stamp(self) -> str:
        return f"[dim]{time.perf_counter() - self.started:6.1f}s[/dim]"

    def line(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"{self._stamp()} {message}", markup=True, emoji=False)

    def call(self, step: str, outcome: str, prompt_tokens: int, completion_tokens: int, seconds: float) -> None:
        if not self.quiet:
            colour = {"ok": "green", "cached": "cyan", "repaired": "yellow"}.get(outcome, "red")
            self.console.print(
                f"{self._stamp()}   [dim]↳ {step}[/dim] [{colour}]{outcome}[/{colour}] "
                f"{prompt_tokens}+{completion_tokens} tokens {seconds:.1f}s",
                emoji=False,
            )

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/yellow]", emoji=False)

    def summary(self, manifest: Manifest) -> None:
        if self.quiet:
            return
        llm, search, checks = manifest["llm"], manifest["search"], manifest.get("checks", {})
        self.console.print(
            f"{self._stamp()} 完成：LLM 请求 {llm['calls']} 次（缓存命中 {llm['cache_hits']}，修复 {llm['repairs']}，"
            f"失败 {llm['failures']}），tokens {llm['prompt_tokens']}+{llm['completion_tokens']}；"
            f"检索 {search['calls']} 次；数据核验 已核实 {checks.get('verified', 0)} / 存在出入 "
            f"{checks.get('contradicted', 0)} / 未找到来源 {checks.get('unsupported', 0)}；"
            f"降级 {len(manifest['degraded'])} 处",
            emoji=False,
        )
