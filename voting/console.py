"""The `voting` console script.

`voting tally` counts a pabulib file with `voting.tally` alone: no Flask, no database, so it starts
at once. Every other command is the app's (`voting.cli`), which builds the Flask app when it runs.
"""
from __future__ import annotations

import sys

def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tally"]:
        from .tally.command import tally_command  # only the counting package

        tally_command.main(argv[1:], prog_name="voting tally")
        return
    from .cli import main as app_main  # Flask, SQLAlchemy and every feature

    app_main(argv)
