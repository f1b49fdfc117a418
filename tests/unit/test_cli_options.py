"""The defaults and choices `yanbao run --help` shows are the settings' own (pipeline.config.Settings),
declared again in pipeline/cli/options.py only so that `--help` need not import pydantic."""

from __future__ import annotations

import typing

from pipeline.cli import options as opt
from pipeline.config import Settings
from pipeline.run.engines import LLM_ENGINES, SEARCH_ENGINES


def test_choices_are_the_settings_literals():
    fields = Settings.model_fields
    assert typing.get_args(opt.KindChoice) == typing.get_args(fields["kind"].annotation)


def test_engine_choices_are_the_registries_names():
    """`--llm`/`--search` accept what the settings accept: the registries' names, read when asked."""
    for option, registry in ((opt.Llm, LLM_ENGINES), (opt.SearchEngine, SEARCH_ENGINES)):
        info = next(a for a in typing.get_args(option) if hasattr(a, "click_type"))
        names = tuple(registry.names())
        assert {"auto"} < set(names)
        assert tuple(info.click_type.choices) == names
        for name in names:
            assert info.click_type.convert(name, None, None) == name


def test_defaults_shown_are_the_settings_defaults():
    built_in = Settings()
    described = {"ollama_host", "base_url", "sources"}  # shown as where they come from, with the value
    for name, shown in opt.DEFAULTS.items():
        value = getattr(built_in, name)
        if name == "formats":
            assert shown == ",".join(value)
        elif name in described:
            assert str(value) in shown or name == "sources", (name, shown)
        else:
            assert shown == str(value), (name, shown, value)
