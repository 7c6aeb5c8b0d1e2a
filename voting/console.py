"""The `voting` console script.

`voting tally` counts a pabulib file with `voting.tally` alone: no Flask, no database, so it starts
at once. Every other command is the app's (`voting.cli`): the Flask app is built for it.
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tally"]:
        from .tally.command import tally_command  # only the counting package

        tally_command.main(argv[1:], prog_name="voting tally")
        return
    from flask.cli import FlaskGroup  # here: Flask, SQLAlchemy and every feature, not for the tally
    from .app import create_app  # here: the web app, only for the commands that need it

    FlaskGroup(create_app=create_app, help="voting: participatory budgeting for community funds.")(
        argv, prog_name="voting")


if __name__ == "__main__":
    main()
