"""The `voting` console script.

`voting tally` counts a pabulib file with `voting.tally` alone: no Flask, no database, so it starts
at once. A plain call (`voting tally FILE [--rule R] [--format F]` with a readable file and known
choices) does not even load click: :func:`plain_tally_call` reads those few words itself and
:func:`voting.tally.report.count_file` prints the same output with the same exit status. Anything
else (`--help`, a missing file, an unknown option or choice) goes to the click command, which
explains it as it always has. Every other command is the app's (`voting.cli`): the Flask app is
built for it.
"""
from __future__ import annotations

import os
import sys

_TALLY_OPTIONS = {"--rule": "rule", "--format": "output_format"}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["tally"]:
        plain = plain_tally_call(argv[1:])
        if plain is not None:
            from .tally.report import count_file  # only the counting package, without click

            status, text = count_file(**plain)
            print(text, file=sys.stderr if status else sys.stdout, flush=True)
            sys.exit(status)
        from .tally.command import tally_command  # only the counting package and click, for the rest

        tally_command.main(argv[1:], prog_name="voting tally")
        return
    from flask.cli import FlaskGroup  # here: Flask, SQLAlchemy and every feature, not for the tally
    from .app import create_app  # here: the web app, only for the commands that need it

    FlaskGroup(create_app=create_app, help="voting: participatory budgeting for community funds.")(
        argv, prog_name="voting")


def plain_tally_call(args: list[str]) -> dict[str, str] | None:
    """The arguments of `voting tally ARGS` when they are a plain, valid call, else None.

    Plain: one readable file (not a directory, not starting with `-`), `--rule` and `--format`
    at most once each (`--rule mes` or `--rule=mes`) with a value the click command accepts.
    """
    from .tally.report import FORMATS  # here: the counting package, which other commands skip
    from .tally.rules import RULES  # the same: the rule names are the counting package's

    choices = {"rule": ("auto", *RULES), "output_format": FORMATS}
    found: dict[str, str] = {}
    files: list[str] = []
    words = iter(args)
    for word in words:
        option, equals, value = word.partition("=")
        if option in _TALLY_OPTIONS:
            name = _TALLY_OPTIONS[option]
            value = value if equals else next(words, None)
            if name in found or value not in choices[name]:
                return None
            found[name] = value
        elif word.startswith("-") or files:
            return None
        else:
            files.append(word)
    if len(files) != 1 or not os.path.isfile(files[0]) or not os.access(files[0], os.R_OK):
        return None
    return {"file": files[0], **found}


if __name__ == "__main__":
    main()
