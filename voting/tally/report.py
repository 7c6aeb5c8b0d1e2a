"""What ``voting tally`` prints: a pabulib file counted, as a table for people or JSON for tools.

Plain functions over :func:`voting.tally.tally`, with no command-line library: the click command
(:mod:`voting.tally.command`) and the console script's fast path (:mod:`voting.console`) both print
what :func:`count_file` returns.
"""
from __future__ import annotations

import json

from .amounts import Amount, describe_amount, format_amount
from .pabulib import PabulibError, read_pb
from .rules import RuleError, TallyResult, tally

EXIT_BAD_INPUT = 2

FORMATS = ("text", "json")


def count_file(file: str, rule: str = "auto", output_format: str = "text") -> tuple[int, str]:
    """Tally the pabulib ``file``: ``(0, the output)``, or ``(EXIT_BAD_INPUT, a message for stderr)``
    (``FILE:LINE: problem`` for a malformed file, ``FILE: problem`` for a rule it cannot follow)."""
    try:
        result = tally(read_pb(file), rule)
    except PabulibError as error:
        return EXIT_BAD_INPUT, f"{file}:{error.line}: {error.problem}"
    except (RuleError, OSError) as error:
        return EXIT_BAD_INPUT, f"{file}: {error}"
    return 0, result_json(result) if output_format == "json" else result_table(result)


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
