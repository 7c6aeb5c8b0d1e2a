"""The action log in words, for the auditor's page: a label for every action code, the details with
their names, money in yuan, projects by title and cycles by year. The log itself (and its CSV) keeps
the codes and the JSON the chain hashes; this is only how the page reads them."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import select

from ..cycles.models import Cycle
from ..format import PHASE_LABELS, STATUS_LABELS, local_time
from ..geography.models import Community
from ..money import yuan_grouped
from ..proposals.models import Project

ACTION_LABELS = {
    "accounts.activate": _l("Activated a resident's account"),
    "accounts.reactivate": _l("Reset a resident's account with a new voting code"),
    "audit.download_log": _l("Downloaded the action log"),
    "audit.download_record": _l("Downloaded the ballot record"),
    "audit.download_roll": _l("Downloaded the voter roll"),
    "audit.download_verifier": _l("Downloaded the verifier"),
    "audit.download_worker_counts": _l("Downloaded the ballots entered per worker"),
    "audit.view_log": _l("Viewed the action log"),
    "cycle.close_preview": _l("Previewed the count before closing early"),
    "cycle.open": _l("Opened a cycle"),
    "cycle.phase": _l("Moved the cycle to its next phase"),
    "cycle.rules": _l("Set the voting rules"),
    "cycle.window": _l("Set the voting window"),
    "mobilise.view_doors": _l("Viewed the door-to-door list"),
    "mobilise.view_turnout": _l("Viewed the turnout per grid"),
    "paper.discard_paper_ballot": _l("Discarded a disputed paper ballot"),
    "paper.replace_earlier_ballot": _l("Let a paper ballot replace an earlier ballot"),
    "proposal.review": _l("Reviewed a proposal"),
    "residents.import": _l("Imported the resident registry"),
    "residents.issue_codes": _l("Issued voting codes"),
    "residents.moved": _l("Recorded a resident's move"),
    "residents.new": _l("Registered a new resident"),
    "residents.status": _l("Changed a resident's status"),
    "residents.voting_codes": _l("Printed voting codes"),
    "results.objection": _l("Filed an objection to the result"),
    "results.objection_answer": _l("Answered an objection"),
    "tracking.approve_beyond_cost": _l("Approved spending beyond a project's cost"),
    "tracking.approve_beyond_fund": _l("Approved spending beyond the year's fund"),
    "tracking.carry_over": _l("Carried a project into the next year"),
    "tracking.end": _l("Ended a project before acceptance"),
    "tracking.milestone": _l("Recorded a milestone"),
    "tracking.reversal": _l("Reversed a payment"),
    "tracking.spending": _l("Recorded a payment"),
    "tracking.status": _l("Moved a project forward"),
}

DETAIL_LABELS = {
    "amount_fen": _l("Amount"), "remaining_fen": _l("Remaining"), "fund": _l("Fund"), "cost": _l("Cost"),
    "cycle": _l("Year"), "year": _l("Year"), "from_year": _l("From"), "into_year": _l("Into"),
    "project": _l("Project"), "proposal": _l("Proposal"), "merged_into": _l("Merged into"),
    "would_fund": _l("Would fund"), "phase": _l("Phase"), "status": _l("Status"), "from_status": _l("From"),
    "to_status": _l("To"), "reason": _l("Reason"), "text": _l("Text"), "decision": _l("Decision"),
    "payee": _l("Payee"), "date": _l("Date"), "format": _l("Format"), "rows": _l("Rows"),
    "ballots": _l("Ballots"), "eligible": _l("Eligible"), "issued": _l("Codes issued"), "grid": _l("Grid"),
    "file": _l("File"), "photos": _l("Photos"), "opens_at": _l("Opens"), "closes_at": _l("Closes"),
    "entry": _l("Payment no."), "reverses": _l("Reverses payment no."), "approval": _l("Approval no."),
    "objection": _l("Objection no."), "milestone": _l("Milestone no."), "batch": _l("Paper batch no."),
    "resident": _l("Resident no."),
}
# Detail values that are money in fen, shown in yuan.
MONEY_KEYS = ("amount_fen", "remaining_fen", "fund", "cost")
PROJECT_KEYS = ("project", "proposal", "merged_into")
# Identifiers and flags the page leaves out: they are in the downloaded log for whoever checks the chain.
HIDDEN_KEYS = ("via",)


@dataclass(frozen=True)
class LogLine:
    """One entry as the page reads it."""

    seq: int
    when: object
    actor: str
    role: str
    action: str
    label: str
    community: str  # its name ("" for the whole district)
    details: list[tuple[str, str]]


def action_label(code: str) -> str:
    return str(ACTION_LABELS.get(code, code))


def in_words(session, rows: list[dict]) -> list[LogLine]:
    """The log rows (`as_row` with `when`) in words: the projects, cycles and communities they name are
    read in three statements."""
    details = [json.loads(row["detail"] or "{}") for row in rows]
    project_ids = {int(v) for d in details for k in PROJECT_KEYS if isinstance(v := d.get(k), int)}
    project_ids |= {int(v) for d in details for v in (d.get("would_fund") or []) if isinstance(v, int)}
    cycle_ids = {v for d in details if isinstance(v := d.get("cycle"), int)}
    titles = dict(session.execute(select(Project.id, Project.title).where(Project.id.in_(project_ids))).all()) \
        if project_ids else {}
    years = dict(session.execute(select(Cycle.id, Cycle.year).where(Cycle.id.in_(cycle_ids))).all()) \
        if cycle_ids else {}
    codes = {row["community"] for row in rows if row["community"]}
    names = dict(session.execute(select(Community.code, Community.name).where(Community.code.in_(codes))).all()) \
        if codes else {}
    return [LogLine(row["seq"], row["when"], row["actor"], row["role"], row["action"], action_label(row["action"]),
                    names.get(row["community"], row["community"]), _details(detail, titles, years))
            for row, detail in zip(rows, details)]


def _details(detail: dict, titles: dict, years: dict) -> list[tuple[str, str]]:
    return [(str(DETAIL_LABELS.get(key, key)), _value(key, value, titles, years))
            for key, value in detail.items()
            if key not in HIDDEN_KEYS and value is not None and not (key == "cycle" and "year" in detail)]


def _value(key: str, value, titles: dict, years: dict) -> str:
    if key in MONEY_KEYS and isinstance(value, int):
        return "¥" + yuan_grouped(value)
    if key in PROJECT_KEYS and isinstance(value, int):
        return titles.get(value, f"#{value}")
    if key == "would_fund" and isinstance(value, list):
        return "、".join(titles.get(v, f"#{v}") for v in value) or _("none")
    if key == "cycle" and isinstance(value, int):
        return str(years.get(value, f"#{value}"))
    if key == "phase":
        return str(PHASE_LABELS.get(value, value))
    if key in ("status", "from_status", "to_status"):
        return str(STATUS_LABELS.get(value, value))
    if key in ("opens_at", "closes_at") and isinstance(value, str):
        return _moment(value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _moment(value: str) -> str:
    try:
        return local_time(datetime.fromisoformat(value.removesuffix("Z")), "short")
    except ValueError:
        return value
