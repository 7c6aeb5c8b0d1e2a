"""The result API (SPEC §5): a closed vote's result, and the objections of its public notice (公示)."""
from __future__ import annotations

from typing import Literal

from flask import jsonify
from flask_babel import gettext as _, lazy_gettext as _l
from pydantic import ConfigDict, Field

from ..accounts.access import acting_user, public, require_roles
from ..api import bp
from ..api.schema import Answer, Body, Moment, Yuan, answers, request_body, text, validate
from ..cycles.api import OutcomeRule
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Role
from ..extensions import db
from ..money import yuan
from .models import Objection
from .services import (
    MAX_OBJECTION_LENGTH, NoticePeriod, RecordedResult, answer_objection, cycle_objections, file_objection,
    notice_period, shown_result,
)

REASON_CODES = ("funded, fill_funded, mes_funded (funded); not_fit, budget_stop, after_budget_stop, "
                "below_threshold, below_share, mes_not_affordable, no_votes, low_turnout (not funded); "
                "recorded_funded, recorded_not_funded (a year counted before online voting: its recorded fate)")
SOURCE = ("`counted`: counted by this service from the ballot record; `recorded`: a year voted and counted "
          "before online voting, as the community's archive records it (no ballot record, turnout or chain: "
          "those fields are null).")


# --- Requests ----------------------------------------------------------------------------------

class ObjectionIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "Project 12 was counted twice on the notice board."}]})
    text: text(_l("The objection"), MAX_OBJECTION_LENGTH)


class ObjectionAnswerIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"text": "The notice board had a printing error; the record counts it once."}]})
    text: text(_l("The answer"), MAX_OBJECTION_LENGTH)


# --- Answers -----------------------------------------------------------------------------------

class Notice(Answer):
    """The result's public notice: objections are taken while it is open."""

    published_at: Moment | None
    days: int
    ends_at: Moment | None
    open: bool


class ChainHead(Answer):
    """The ballot chain the count read: give it to `voting verify` as `--head`."""

    seq: int
    head: str = Field(pattern="^[0-9a-f]{64}$")


class ProjectOutcome(Answer):
    id: int
    votes: int | None = Field(description="Null only in a recorded year whose archive has no votes for it.")
    cost: Yuan
    selected: bool
    reason: str = Field(description="Why it was or was not funded, with the figures, in the reader's language.")
    reason_code: str = Field(description=REASON_CODES)


class Result(Answer):
    """A closed vote's published result: the projects in ranking order."""

    source: Literal["counted", "recorded"] = Field(description=SOURCE)
    source_note: str = Field(description="Where the figures come from, in the reader's language.")
    outcome_rule: OutcomeRule
    ballots_counted: int | None
    eligible: int | None
    turnout: float | None = Field(ge=0, description="Ballots counted per eligible voter (0 to 1).")
    min_turnout_percent: int | None
    below_min_turnout: bool
    selected: list[int]
    tie_break: str | None
    chain: ChainHead | None
    notice: Notice
    projects: list[ProjectOutcome]


class ObjectionAnswer(Answer):
    text: str
    answered_at: Moment


class ObjectionOut(Answer):
    """An objection as the public reads it (never who filed or answered it)."""

    id: int
    cycle: int
    text: str
    created_at: Moment
    answer: ObjectionAnswer | None


class Objections(Answer):
    cycle: int
    notice: Notice
    objections: list[ObjectionOut]


def iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


@bp.get("/cycles/<int:cycle_id>/results")
@public
@validate(resp=answers(200, Result, 409))
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def cycle_results(cycle_id):
    """The result of a closed vote, with why each project was or was not funded (409 before the close); a
    year counted before online voting answers its recorded result (`source` says which)."""
    view = shown_result(db.session, get_cycle(db.session, cycle_id), utcnow())
    if isinstance(view, RecordedResult):
        return jsonify(recorded_json(view))
    cycle, result = view.cycle, view.result
    return jsonify(
        source="counted", source_note=_("Counted by this service from the ballot record."),
        outcome_rule=cycle.outcome_rule, ballots_counted=result.ballots_counted, eligible=result.eligible_voters,
        turnout=round(view.turnout, 4), min_turnout_percent=cycle.min_turnout_percent,
        below_min_turnout=view.below_min_turnout, selected=view.selected, tie_break=result.tie_break,
        chain={"seq": result.chain_seq, "head": result.chain_head},
        notice=notice_json(notice_period(cycle), utcnow()),
        projects=[{"id": r["id"], "votes": r["votes"], "cost": yuan(r["cost_fen"]), "selected": r["selected"],
                   "reason": r["reason"], "reason_code": r["reason_code"]} for r in view.rows],
    )


def recorded_json(view: RecordedResult) -> dict:
    """A year counted before online voting, as its archive records it: no count, turnout or chain."""
    cycle = view.cycle
    return dict(
        source="recorded", source_note=_("Recorded from the community's archive, not counted by this service."),
        outcome_rule=cycle.outcome_rule, ballots_counted=None, eligible=None, turnout=None,
        min_turnout_percent=cycle.min_turnout_percent, below_min_turnout=False, selected=view.selected,
        tie_break=None, chain=None, notice=notice_json(notice_period(cycle), utcnow()),
        projects=[{"id": r["id"], "votes": r["votes"], "cost": yuan(r["cost_fen"]), "selected": r["selected"],
                   "reason": r["reason"], "reason_code": r["reason_code"]} for r in view.rows],
    )


def notice_json(period: NoticePeriod, now) -> dict:
    """The public notice's period: {published_at, days, ends_at, open}."""
    return {"published_at": iso(period.published_at), "days": period.days, "ends_at": iso(period.ends_at),
            "open": period.is_open(now)}


def objection_json(objection: Objection) -> dict:
    """An objection as the public reads it (never who filed or answered it)."""
    answer = ({"text": objection.answer, "answered_at": iso(objection.answered_at)}
              if objection.is_answered else None)
    return {"id": objection.id, "cycle": objection.cycle_id, "text": objection.text,
            "created_at": iso(objection.created_at), "answer": answer}


@bp.get("/cycles/<int:cycle_id>/objections")
@public
@validate(resp=answers(200, Objections))
def cycle_objection_list(cycle_id):
    """The objections to a cycle's result with their answers, and the notice period (public)."""
    cycle = get_cycle(db.session, cycle_id)
    return jsonify(cycle=cycle.id, notice=notice_json(notice_period(cycle), utcnow()),
                   objections=[objection_json(o) for o in cycle_objections(db.session, cycle)])


@bp.post("/cycles/<int:cycle_id>/objections")
@require_roles(Role.RESIDENT)
@validate(json=ObjectionIn, resp=answers(201, ObjectionOut, 409))
@transactional
def file_cycle_objection(cycle_id):
    """Object to the result during its public notice (residents of the community)."""
    body = request_body(ObjectionIn)
    objection = file_objection(db.session, acting_user(), get_cycle(db.session, cycle_id), body.text, utcnow())
    return jsonify(objection_json(objection)), 201


@bp.post("/objections/<int:objection_id>/answer")
@require_roles(Role.STAFF)
@validate(json=ObjectionAnswerIn, resp=answers(200, ObjectionOut, 409))
@transactional
def answer_cycle_objection(objection_id):
    """Answer an objection in public, once (the community's staff)."""
    body = request_body(ObjectionAnswerIn)
    objection = answer_objection(db.session, acting_user(), objection_id, body.text, utcnow())
    return jsonify(objection_json(objection))
