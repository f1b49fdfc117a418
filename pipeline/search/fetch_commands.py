"""CLI command of the fetch room (placeholder until the fetch module lands)."""

import typer


def fetch(url: str) -> None:
    raise typer.Exit(2)
