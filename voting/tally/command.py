"""The ``tally`` command: count a pabulib file and show what is funded and why.

The app registers :data:`tally_command` on the ``voting`` command group. A malformed file gives
``FILE:LINE: problem`` on stderr and exit status 2, never a traceback.
"""
from __future__ import annotations

import json

import click

from .amounts import Amount, describe_amount, format_amount
from .pabulib import PabulibError, read_pb
from .rules import RULES, RuleError, TallyResult, tally

EXIT_BAD_INPUT = 2


@click.command("tally")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--rule", type=click.Choice(("auto", *RULES)), default="auto", show_default=True,
              help="Outcome rule; auto follows the file's META rule.")
@click.option("--format", "output_format", type=click.Choice(("text", "json")), default="text",
              show_default=True, help="A readable table, or JSON for other tools.")
def tally_command(file: str, rule: str, output_format: str) -> None:
    """Tally the pabulib FILE and show which projects are funded, and why."""
    try:
        result = tally(read_pb(file), rule)
    except PabulibError as error:
        _fail(f"{file}:{error.line}: {error.problem}")
    except (RuleError, OSError) as error:
        _fail(f"{file}: {error}")
    click.echo(result_json(result) if output_format == "json" else result_table(result))


def _fail(message: str) -> None:
    click.echo(message, err=True)
    raise click.exceptions.Exit(EXIT_BAD_INPUT)


def result_json(result: TallyResult) -> str:
    """The result as JSON: money as decimal strings, project ids as strings."""
    document = {
        "rule": result.rule,
        "selected": [str(pid) for pid in result.selected],
        "cost": format_amount(result.cost),
        "budget": format_amount(result.budget),
        "projects": [
            {
                "id": str(project.id),
                "score": _json_number(project.score),
                "cost": format_amount(project.cost),
                "selected": project.selected,
                "reason": project.reason,
            }
            for project in result.projects
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _json_number(value: Amount) -> int | str:
    """Whole scores stay JSON numbers; fractional ones (decimal points) become exact strings."""
    return value if isinstance(value, int) else format_amount(value)


def result_table(result: TallyResult) -> str:
    """The result as a table for people: one row per project, in ranking order."""
    header = ("#", "project", "score", "cost", "funded", "reason")
    rows = [
        (str(place), str(project.id), describe_amount(project.score), describe_amount(project.cost),
         "yes" if project.selected else "no", project.reason)
        for place, project in enumerate(result.projects, start=1)
    ]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    lines = [
        f"rule {result.rule}: {len(result.selected)} projects funded, cost {describe_amount(result.cost)}"
        f" of budget {describe_amount(result.budget)}",
        "",
    ]
    for row in [header, *rows]:
        cells = [cell.rjust(width) if column in (0, 2, 3) else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells + [row[-1]]))
    lines += ["", f"order of selection: {', '.join(str(pid) for pid in result.selected) or '(none)'}",
              f"tie-break: {result.tie_break}"]
    return "\n".join(lines)
