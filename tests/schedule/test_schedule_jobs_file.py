"""Bad jobs files: one line naming the file, the job and the field; exit 2 from the CLI."""

from __future__ import annotations

import pytest

from pipeline.run.schedule import JobsError, load_jobs

GOOD = '''
[[job]]
name = "ai-daily"
kind = "research"
topics = ["人工智能发展趋势"]
cron = "0 8 * * *"
out = "out"
formats = ["md", "html"]
'''


def job(**fields) -> str:
    lines = ["[[job]]"]
    base = {"name": '"ai-daily"', "topics": '["人工智能发展趋势"]', "cron": '"0 8 * * *"', "out": '"out"'}
    for key, val in {**base, **fields}.items():
        if val is not None:
            lines.append(f"{key} = {val}")
    return "\n".join(lines) + "\n"


CASES = [
    # (jobs.toml text, words the message must contain)
    ('[[job]]\nname = "ai-daily"\ntopics = ["x"\ncron = "0 8 * * *"\n', ["invalid TOML", "line 4"]),
    (job(cron='"0 8 * *"'), ["job 'ai-daily'", "cron", "4 fields"]),
    (job(cron='"0 25 * * *"'), ["job 'ai-daily'", "cron", "not a valid cron"]),
    (job(kind='"weekly-news"'), ["job 'ai-daily'", "kind", "weekly-news", "research"]),
    (job(topics=None), ["job 'ai-daily'", "missing field 'topics'"]),
    (job(topics="[]"), ["job 'ai-daily'", "topics", "non-empty list"]),
    (job(topics='"人工智能"'), ["job 'ai-daily'", "topics", "non-empty list"]),
    (job(topics='["  "]'), ["job 'ai-daily'", "topics", "item 1", "empty"]),
    (job(out='"blocker/sub"'), ["job 'ai-daily'", "field 'out'", "blocker"]),
    (job() + "\n" + job(topics='["算力"]'), ["duplicate job name 'ai-daily'", "#1", "#2"]),
    (job(name=None), ["job #1", "missing field 'name'"]),
    (job(name='"../etc"'), ["job '../etc'", "name must be a file name"]),
    (job(cron=None), ["job 'ai-daily'", "missing field 'cron'"]),
    (job(colour='"red"'), ["job 'ai-daily'", "unknown field 'colour'"]),
    (job(max_loops="0"), ["job 'ai-daily'", "max_loops", "greater than or equal to 1"]),
    (job(formats='["md", "pdf"]'), ["job 'ai-daily'", "formats", "unknown format 'pdf'"]),
    (job(llm='"gpt"'), ["job 'ai-daily'", "llm"]),
    ("[jobs]\nname = 'x'\n", ["unknown table 'jobs'"]),
    ("# nothing here\n", ["no [[job]] tables"]),
]


@pytest.mark.parametrize("text,words", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_jobs_file_names_job_and_field(tmp_path, write_jobs, text, words):
    (tmp_path / "blocker").write_text("a file where a folder should be", encoding="utf-8")
    path = write_jobs(text)
    with pytest.raises(JobsError) as err:
        load_jobs(path, env={})
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg
    for w in words:
        assert w in msg, (w, msg)


def test_good_jobs_file_and_relative_out(tmp_path, write_jobs):
    (j,) = load_jobs(write_jobs(GOOD), env={})
    assert j.name == "ai-daily" and j.cron == "0 8 * * *" and j.topics == ["人工智能发展趋势"]
    assert j.settings.out == tmp_path / "out" and j.settings.formats == ["md", "html"]
    assert j.settings.quiet and j.lock_path == tmp_path / "out" / ".locks" / "job-ai-daily.lock"
    assert j.reports() == [("人工智能发展趋势", None, "ai-daily")]


def test_defaults_table_and_several_topics(tmp_path, write_jobs):
    text = '[defaults]\nbreadth = 1\nllm = "extractive"\n\n' + job(topics='["算力", "电力"]', breadth="2")
    (j,) = load_jobs(write_jobs(text), env={})
    assert j.settings.breadth == 2 and j.settings.llm == "extractive"
    assert [stem for _, _, stem in j.reports()] == ["ai-daily-算力", "ai-daily-电力"]


def test_cli_bad_jobs_file_is_one_line_exit_2(tmp_path, write_jobs, yanbao):
    write_jobs(job(cron='"every day"'))
    for args in (["schedule", "run", "--due"], ["schedule", "list"]):
        res = yanbao(*args)
        assert res.code == 2, res
        assert res.stderr.count("\n") == 1 and res.stderr.startswith("yanbao: ")
        assert "job 'ai-daily'" in res.stderr and "cron" in res.stderr
        assert "Traceback" not in res.stderr and res.stdout == ""


def test_cli_usage_errors(tmp_path, write_jobs, yanbao):
    write_jobs(GOOD)
    res = yanbao("schedule", "run")
    assert res.code == 2 and "--due" in res.stderr
    res = yanbao("schedule", "run", "nope", "--now")
    assert res.code == 2 and "no job named 'nope'" in res.stderr and "ai-daily" in res.stderr
    res = yanbao("schedule", "list", "--jobs", "missing.toml")
    assert res.code == 2 and "jobs file not found" in res.stderr
