"""The `yanbao` command line.

Only typer is imported at start-up; each command imports what it needs when it runs, so that
`yanbao --help` stays fast (langchain-class imports cost seconds). Commands owned by other rooms are
registered here from their light `*_commands` modules.
"""

from __future__ import annotations

import typer

from pipeline.facts.commands import check as check_command
from pipeline.facts.commands import facts_app
from pipeline.search.fetch_commands import fetch as fetch_command

app = typer.Typer(
    name="yanbao",
    help="研报: research reports in Chinese, with every number checked against a local facts store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(facts_app, name="facts", help="Import, list and search the local facts store.")
app.command("check", help="Check every number in a report against the facts store.")(check_command)
app.command("fetch", help="Fetch one page and extract its main text, as the pipeline would.")(fetch_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
