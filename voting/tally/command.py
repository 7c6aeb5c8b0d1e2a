"""The ``tally`` command: count a pabulib file and show what is funded and why.

The app registers :data:`tally_command` on the ``voting`` command group. A malformed file gives
``FILE:LINE: problem`` on stderr and exit status 2, never a traceback. What it prints is
:mod:`voting.tally.report`'s; the console script runs a plain call without click
(:mod:`voting.console`).
"""
from __future__ import annotations

import click

from .report import EXIT_BAD_INPUT, FORMATS, count_file, result_json, result_table
from .rules import RULES

__all__ = ["EXIT_BAD_INPUT", "result_json", "result_table", "tally_command"]


@click.command("tally")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--rule", type=click.Choice(("auto", *RULES)), default="auto", show_default=True,
              help="Outcome rule; auto follows the file's META rule.")
@click.option("--format", "output_format", type=click.Choice(FORMATS), default="text",
              show_default=True, help="A readable table, or JSON for other tools.")
def tally_command(file: str, rule: str, output_format: str) -> None:
    """Tally the pabulib FILE and show which projects are funded, and why."""
    status, text = count_file(file, rule, output_format)
    click.echo(text, err=bool(status))
    if status:
        raise click.exceptions.Exit(status)
