"""`voting verify PATH`: check an exported record, as the standalone verifier does, but recount with
the service's own tally (`voting.tally`), so the two counts check each other.

A CSV, JSON or XLSX record is read and checked by `verify_record.py` (the standalone verifier,
whose chain functions are tested to equal `voting/ballots/chain.py`): its chain, its rows, the
voting window and the checkpoints given; its current ballots are then counted by `voting.tally`
with the cycle's rule. A pabulib `.pb` export is counted by
`voting.tally` with the rule its META names and the service's guards its META gives (projects
without votes never funded unless `unvoted_projects` is `fundable` or absent, a threshold as a
share of voters, a minimum turnout of `eligible`), and compared with the published result it carries.
"""
from __future__ import annotations

from fractions import Fraction

from ..results.services import VOTE_TYPES, count_votes
from ..tally import Election, PabulibError, Project as TallyProject, RuleError, read_pb, tally
from . import verify_record
from .verify_record import EXIT_BAD, EXIT_OK, EXIT_UNREADABLE, Checked, Count, Record, with_min_turnout


def tally_counter(record: Record, checked: Checked) -> Count:
    """Count a checked record's current ballots with `voting.tally` (money in fen, raises of a yuan)."""
    header = record.header
    projects = [TallyProject(p.id, p.cost, name=p.title) for p in record.projects]
    if header.method == "cumulative":
        ballots = [dict(choices) for choices in checked.current.values()]
    else:
        ballots = [[project for project, _points in choices] for choices in checked.current.values()]
    election = Election.from_values(projects, header.fund, ballots, vote_type=VOTE_TYPES[header.method],
                                    threshold=header.threshold)
    try:
        result = count_votes(election, header.outcome_rule, header.threshold, header.threshold_percent,
                             fund_unvoted=header.fund_unvoted)
    except RuleError as error:
        raise verify_record.Broken(str(error)) from None
    return with_min_turnout(header, Count(result.rule, len(ballots), [int(p) for p in result.selected],
                                          int(result.cost)))


def verify_file(path: str, head: str | None = None, checkpoints=()) -> tuple[int, list[str]]:
    """Verify the record or pabulib file at `path`: (exit status, lines to print).

    `checkpoints`: `verify_record.Checkpoint`s the record must extend. A .pb file has no chain, so
    a head or a checkpoint given with one is a usage error (exit 2) rather than silently unchecked.
    """
    if path.lower().endswith(".pb"):
        if head is not None or checkpoints:
            return EXIT_UNREADABLE, [f"cannot verify: {path} is a pabulib file, which has no hash chain: "
                                     "--head and --checkpoint need the CSV, JSON or XLSX record"]
        return verify_pabulib(path)
    return verify_record.verify(path, head, counter=tally_counter, checkpoints=checkpoints)


def _service_guards(meta) -> dict:
    """The tally's options for the guards the service's export names in META."""
    percent = meta.get("threshold_percent", "").strip()
    return {"fund_unvoted": meta.get("unvoted_projects", "fundable") != "never_funded",
            "threshold_share": Fraction(int(percent), 100) if percent else None}


def _below_min_turnout(election: Election) -> bool:
    """Whether a final export's META minimum turnout was missed (then the service funded nothing).

    :raises ValueError: for META values that are not whole numbers.
    """
    meta = election.meta
    minimum = meta.get("min_turnout_percent", "").strip()
    if meta.get("status") != "final" or not minimum:
        return False
    eligible = int(meta.get("eligible") or 0)
    return not eligible or len(election.ballots) * 100 < int(minimum) * eligible


def verify_pabulib(path: str) -> tuple[int, list[str]]:
    """Count a .pb export with the rule its META names; compare with the published result in META."""
    try:
        election = read_pb(path)
        result = tally(election, "auto", **_service_guards(election.meta))
        below = _below_min_turnout(election)
    except OSError as error:
        return EXIT_UNREADABLE, [f"cannot verify: cannot read {path}: {error.strerror or error}"]
    except PabulibError as error:
        return EXIT_BAD, [f"NOT VERIFIED: {path}:{error.line}: {error.problem}"]
    except RuleError as error:
        return EXIT_BAD, [f"NOT VERIFIED: {path}: {error}"]
    except ValueError:
        return EXIT_BAD, [f"NOT VERIFIED: {path}: META threshold_percent, min_turnout_percent and eligible "
                          "must be whole numbers"]
    meta = election.meta
    selected = [] if below else [str(p) for p in result.selected]
    lines = [f"{meta.get('description', path)}",
             f"recount ({result.rule}): {len(election.ballots)} ballots; funded {', '.join(selected) or 'nothing'}"]
    if meta.get("status") != "final":
        return EXIT_OK, lines + ["SO FAR: no result was published when this file was exported; "
                                 "this is not the result."]
    published = [item for item in meta.get("selected", "").split(",") if item]
    if selected != published or str(len(election.ballots)) != meta.get("ballots_counted"):
        return EXIT_BAD, lines + [f"NOT VERIFIED: the published result is {meta.get('ballots_counted')} ballots, "
                                  f"funded {', '.join(published) or 'nothing'}"]
    return EXIT_OK, lines + ["OK: the count is the published result. (A .pb file has no hash chain: verify the "
                             "CSV, JSON or XLSX record for that.)"]
