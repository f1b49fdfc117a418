"""CLI commands of the facts room (placeholder until the facts module lands)."""

import typer

facts_app = typer.Typer(no_args_is_help=True)


def check(report: str) -> None:
    raise typer.Exit(2)
