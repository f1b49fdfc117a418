"""Settings of `--llm openai`: base_url, api_key_env, context_tokens; a key is never a setting and never echoed."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_settings


def test_defaults():
    s, origin = load_settings({}, None, {})
    assert (s.base_url, s.api_key_env, s.context_tokens) == ("http://127.0.0.1:8000/v1", "OPENAI_API_KEY", 8192)
    assert origin["base_url"] == "default"


def test_openai_base_url_env_and_yanbao_env_beats_it(tmp_path: Path):
    s, origin = load_settings({}, None, {"OPENAI_BASE_URL": "https://api.deepseek.com/v1/"})
    assert s.base_url == "https://api.deepseek.com/v1" and origin["base_url"] == "env OPENAI_BASE_URL"
    s, origin = load_settings({}, None, {"OPENAI_BASE_URL": "https://a.example/v1", "YANBAO_BASE_URL": "127.0.0.1:8080/v1"})
    assert s.base_url == "http://127.0.0.1:8080/v1" and origin["base_url"] == "env YANBAO_BASE_URL"
    cfg = tmp_path / "y.toml"
    cfg.write_text('[yanbao]\nllm = "openai"\napi_key_env = "DEEPSEEK_API_KEY"\ncontext_tokens = 65536\n', encoding="utf-8")
    s, origin = load_settings({"base_url": "http://10.0.0.5:8000/v1"}, cfg, {})
    assert (s.llm, s.api_key_env, s.context_tokens) == ("openai", "DEEPSEEK_API_KEY", 65536)
    assert s.base_url == "http://10.0.0.5:8000/v1" and origin["base_url"] == "flag"


def test_the_key_variable_itself_is_not_a_setting():
    s, _ = load_settings({}, None, {"OPENAI_API_KEY": "sk-secret-1"})
    assert "sk-secret-1" not in s.model_dump_json()


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"base_url": "https://me:sk-secret-1@api.example.com/v1"}, "must not hold credentials"),
        ({"base_url": "https://api.example.com/v1?key=sk-secret-1"}, "no query string"),
        ({"base_url": "ftp://sk-secret-1.example/v1"}, "http(s) URL"),
        ({"api_key_env": "sk-secret-1"}, "names an environment variable"),
        ({"api_key_env": "abcdef0123456789sksecret1"}, "names an environment variable"),
        ({"context_tokens": 100}, "context-tokens"),
    ],
)
def test_bad_values_are_named_and_a_pasted_key_is_not_echoed(flags, needle):
    with pytest.raises(ConfigError) as err:
        load_settings(flags, None, {})
    message = str(err.value)
    assert needle in message and "\n" not in message
    assert "secret" not in message


def test_a_jobs_file_with_a_pasted_key_is_refused_without_echoing_it(tmp_path: Path):
    from pipeline.run.schedule import JobsError, load_jobs

    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        '[[job]]\nname = "ai-daily"\ntopics = ["人工智能发展趋势"]\ncron = "0 8 * * *"\nout = "out"\n'
        'llm = "openai"\napi_key_env = "sk-secret-1"\n', encoding="utf-8",
    )
    with pytest.raises(JobsError) as err:
        load_jobs(jobs, env={})
    assert "api_key_env" in str(err.value) and "secret" not in str(err.value)
