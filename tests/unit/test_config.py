from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_settings


def test_layers_later_wins_and_origins(tmp_path: Path):
    cfg = tmp_path / "y.toml"
    cfg.write_text('[yanbao]\nbreadth = 2\nmodel = "llama3"\nnum-ctx = 4096\n', encoding="utf-8")
    env = {"YANBAO_MODEL": "qwen2.5:14b", "OLLAMA_HOST": "127.0.0.1:9999", "YANBAO_NUM_CTX": "16384"}
    s, origin = load_settings({"num_ctx": 2048, "seed": None}, cfg, env)
    assert s.breadth == 2 and origin["breadth"] == str(cfg)
    assert s.model == "qwen2.5:14b" and origin["model"] == "env YANBAO_MODEL"
    assert s.ollama_host == "http://127.0.0.1:9999" and origin["ollama_host"] == "env OLLAMA_HOST"
    assert s.num_ctx == 2048 and origin["num_ctx"] == "flag"
    assert s.seed == 42 and origin["seed"] == "default"


def test_yanbao_env_beats_generic_ollama_env():
    s, origin = load_settings({}, None, {"OLLAMA_MODEL": "gemma3-270m", "YANBAO_MODEL": "qwen2.5:7b"})
    assert s.model == "qwen2.5:7b" and origin["model"] == "env YANBAO_MODEL"


@pytest.mark.parametrize(
    ("flags", "needle"),
    [({"max_loops": 0}, "max-loops"), ({"max_loops": 11}, "max-loops"),
     ({"model": "two words"}, "model"), ({"search": "bing"}, "search")],
)
def test_invalid_values_name_the_setting(flags, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(flags, None, {})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_bool_env_and_unknown_key(tmp_path: Path):
    s, _ = load_settings({}, None, {"YANBAO_CACHE": "off"})
    assert s.cache is False
    with pytest.raises(ConfigError, match="YANBAO_CACHE"):
        load_settings({}, None, {"YANBAO_CACHE": "maybe"})
    bad = tmp_path / "y.toml"
    bad.write_text("colour = 'red'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings({}, bad, {})
    with pytest.raises(ConfigError, match="not found"):
        load_settings({}, tmp_path / "missing.toml", {})
