"""`ollama_host` as a pool: a TOML list, or comma separated in a flag or the environment."""

from __future__ import annotations

import pytest

from pipeline.config import ConfigError, load_settings


def test_toml_list_of_hosts(tmp_path):
    cfg = tmp_path / "yanbao.toml"
    cfg.write_text('[yanbao]\nollama_host = ["gpu1:11434", "http://gpu2:11434/", "gpu1:11434"]\n', encoding="utf-8")
    s, origin = load_settings({}, cfg, env={})
    assert s.ollama_hosts == ["http://gpu1:11434", "http://gpu2:11434"]  # normalized, duplicates dropped
    assert s.ollama_host == "http://gpu1:11434,http://gpu2:11434" and origin["ollama_host"] == str(cfg)


def test_comma_separated_environment_and_flag():
    s, _ = load_settings({}, env={"OLLAMA_HOST": "a:1, b:2"})
    assert s.ollama_hosts == ["http://a:1", "http://b:2"]
    s, _ = load_settings({"ollama_host": "http://c:3"}, env={"OLLAMA_HOST": "a:1,b:2"})
    assert s.ollama_hosts == ["http://c:3"] and s.ollama_host == "http://c:3"  # one host reads as before


def test_pool_settings_from_environment():
    s, _ = load_settings({}, env={"YANBAO_OLLAMA_CONCURRENCY": "3", "YANBAO_OLLAMA_DOWN_S": "5"})
    assert s.ollama_concurrency == 3 and s.ollama_down_s == 5


@pytest.mark.parametrize("value", [" , ", ""])
def test_empty_host_list_is_a_one_line_error(value):
    with pytest.raises(ConfigError, match="ollama-host"):
        load_settings({}, env={"OLLAMA_HOST": value})


def test_config_show_never_prints_the_brokers_password(tmp_path):
    import subprocess

    from clikit import clean_env, yanbao_cmd

    env = {**clean_env(), "YANBAO_BROKER": "redis://:s3cret@queue.example:6379/0"}
    proc = subprocess.run(yanbao_cmd("config", "show"), cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "s3cret" not in proc.stdout and "redis://:***@queue.example:6379/0" in proc.stdout
