"""The defaults and choices `yanbao run --help` shows are the settings' own (pipeline.config.Settings),
declared again in pipeline/cli/options.py only so that `--help` need not import pydantic."""

from __future__ import annotations

import typing

import pytest

from pipeline.cli import options as opt
from pipeline.config import Settings
from pipeline.run.engines import LLM_ENGINES, SEARCH_ENGINES


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


def test_kind_choices_are_the_registered_kinds():
    """`--kind` offers what `pipeline.kinds` holds, and the settings accept exactly those."""
    from pipeline import kinds

    kind = next(a for a in typing.get_args(opt.Kind) if hasattr(a, "click_type"))
    assert tuple(kind.click_type.choices) == kinds.names()
    assert kinds.names()[:3] == ("research", "digest", "commentary")
    with pytest.raises(kinds.KindError, match="choose one of: research, digest, commentary"):
        kinds.get("weekly-news")


def test_an_unknown_kind_setting_is_one_line_naming_its_origin(capsys):
    """The kind is checked against the registry where settings are loaded for a command (not in
    pipeline.config: the registry imports the kinds, which import the settings)."""
    import typer

    from pipeline.cli.common import load

    with pytest.raises(typer.Exit) as done:
        load({"kind": "weekly"}, None)
    assert done.value.exit_code == 2
    err = capsys.readouterr().err
    assert err == "yanbao: invalid kind = 'weekly' (from flag): Input should be 'research', 'digest' or 'commentary'\n"
    assert load({"kind": "digest"}, None)[0].kind == "digest"
