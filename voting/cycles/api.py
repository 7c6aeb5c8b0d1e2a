"""The cycle API (SPEC §5): a cycle with its rules and ballot, opening a year's cycle, moving it on,
its voting window and rules, and the preview of an early close."""
from __future__ import annotations

from typing import Literal

from flask import jsonify, url_for
from flask_babel import lazy_gettext as _l
from pydantic import ConfigDict, Field

from ..accounts.access import acting_user, public, require_roles
from ..api import bp
from ..api.schema import (
    Answer, Body, Moment, Yuan, answers, checked, choice, money, request_body, text,
    time_with_zone, validate, whole,
)
from ..database import transactional, utcnow
from ..enums import Phase, ProjectStatus, Role
from ..extensions import db
from ..geography.services import get_community
from ..money import yuan
from ..proposals.ballot import ballot_projects
from ..proposals.models import CATEGORIES
from ..results.services import explained
from ..validation import choice_value, utc_time_value
from .models import MAX_NOTICE_DAYS, METHODS, MIN_NOTICE_DAYS, OUTCOME_RULES, VOTERS, Cycle
from .services import (
    FIRST_YEAR, MAX_CHOICES, MAX_POINTS, MAX_THRESHOLD, REASON_LENGTH, close_preview, cycle_for_staff, get_cycle,
    move_phase, open_cycle, set_rules, set_window,
)

Category = Literal[CATEGORIES]
Method = Literal[METHODS]
OutcomeRule = Literal[OUTCOME_RULES]
Voters = Literal[VOTERS]
LAST_YEAR = 2100  # the service allows up to next year; the document, a sane bound


# --- Requests ----------------------------------------------------------------------------------

# Who votes: null (or absent) is every adult, as before the rule existed.
VOTERS_IN = checked(
    lambda value, field, label: value if value in (None, "") else choice_value(
        value, field, label, choices=VOTERS, code="unknown_voters"),
    _l("Who votes"), {"type": ["string", "null"], "enum": [*VOTERS, None]})

class CycleIn(Body):
    """Open a community's cycle for a year; the fund (yuan) is the district admin's to set."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"year": 2026}, {"year": 2026, "fund": "250000.00"}]})
    year: whole(_l("The year"), FIRST_YEAR, LAST_YEAR)
    fund: money(_l("Fund"), required=False) = None


class PhaseIn(Body):
    """The next phase; a reason (published) to close voting before its set time."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"phase": "review"}, {"phase": "results", "reason": "Every household has voted."}]})
    phase: choice(_l("Phase"), list(Phase), code="unknown_phase")
    reason: text(_l("The reason"), REASON_LENGTH, required=False) = None


class WindowIn(Body):
    """The voting window: ISO 8601 times with their zone."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"voting_opens_at": "2026-05-01T09:00:00+08:00", "voting_closes_at": "2026-05-08T18:00:00+08:00"}]})
    voting_opens_at: time_with_zone(_l("Voting opens"))
    voting_closes_at: time_with_zone(_l("Voting closes"))


class RulesIn(Body):
    """The voting method and the outcome rule, with their limits (null: none, or the default)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"method": "approval", "outcome_rule": "greedy", "min_choices": 1, "max_choices": 3},
        {"method": "cumulative", "outcome_rule": "mes", "points": 10, "voters": "households", "notice_days": 7},
        {"method": "knapsack", "outcome_rule": "greedy-threshold", "threshold_percent": 10,
         "min_turnout_percent": 30}]})
    method: choice(_l("Voting method"), METHODS, code="unknown_method")
    outcome_rule: choice(_l("Outcome rule"), OUTCOME_RULES, code="unknown_outcome_rule")
    voters: VOTERS_IN = None
    min_choices: whole(_l("The minimum number of choices"), 0, MAX_CHOICES, required=False) = None
    max_choices: whole(_l("The maximum number of choices"), 1, MAX_CHOICES, required=False) = None
    points: whole(_l("The points"), 1, MAX_POINTS, required=False) = None
    threshold: whole(_l("The threshold"), 1, MAX_THRESHOLD, required=False) = None
    threshold_percent: whole(_l("The share of voters"), 1, 100, required=False) = None
    min_turnout_percent: whole(_l("The minimum turnout"), 1, 100, required=False) = None
    notice_days: whole(_l("The days of public notice"), MIN_NOTICE_DAYS, MAX_NOTICE_DAYS, required=False) = None


# --- Answers -----------------------------------------------------------------------------------

class CycleSummary(Answer):
    id: int
    year: int
    fund: Yuan
    phase: Phase


class Rules(Answer):
    """How the cycle votes and counts (null: no limit, or not this method's or rule's)."""

    method: Method
    min_choices: int
    max_choices: int | None
    points: int | None = Field(description="Points each voter spreads (cumulative voting only).")
    threshold: int | None = Field(description="Minimum votes (greedy-threshold only).")
    outcome_rule: OutcomeRule
    voters: Voters = Field(description="adults: every resident of 18 or over; households: one vote a household.")
    threshold_percent: int | None = Field(description="Minimum share of voters (greedy-threshold only).")
    min_turnout_percent: int | None = Field(description="Below this turnout nothing is funded.")
    notice_days: int = Field(description="Days of the result's public notice (objections).")


class BallotProject(Answer):
    id: int
    title: str
    cost: Yuan
    category: Category
    status: ProjectStatus


class CycleDetail(CycleSummary):
    community: str = Field(description="The community's code.")
    voting_opens_at: Moment | None
    voting_closes_at: Moment | None
    rules: Rules
    projects: list[BallotProject]


class CycleMoved(CycleDetail):
    closed_early_reason: str | None


class TurnoutNow(Answer):
    voted: int
    eligible: int
    percent: float | None


class PreviewProject(Answer):
    id: int
    title: str
    votes: int
    cost: Yuan
    selected: bool
    reason_code: str
    reason: str


class ClosePreview(Answer):
    """What closing the vote now would fund (nothing is stored)."""

    turnout: TurnoutNow
    min_turnout_percent: int | None
    below_min_turnout: bool
    funds_nothing: bool
    would_fund: list[int]
    cost: Yuan
    projects: list[PreviewProject]


def iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def cycle_summary(cycle: Cycle) -> dict:
    return {"id": cycle.id, "year": cycle.year, "fund": yuan(cycle.fund_fen), "phase": cycle.current_phase(utcnow())}


def cycle_rules(cycle: Cycle) -> dict:
    return {
        "method": cycle.method, "min_choices": cycle.min_choices, "max_choices": cycle.max_choices,
        "points": cycle.points, "threshold": cycle.threshold, "outcome_rule": cycle.outcome_rule,
        "voters": cycle.voters, "threshold_percent": cycle.threshold_percent,
        "min_turnout_percent": cycle.min_turnout_percent, "notice_days": cycle.notice_days,
    }


def cycle_json(cycle: Cycle) -> dict:
    """A cycle with its window, rules and ballot (SPEC §5, GET /cycles/<id>)."""
    projects = [
        {"id": p.id, "title": p.title, "cost": yuan(p.ballot_cost_fen), "category": p.category, "status": p.status}
        for p in ballot_projects(db.session, cycle)
    ]
    return cycle_summary(cycle) | {
        "community": cycle.community.code, "voting_opens_at": iso(cycle.voting_opens_at),
        "voting_closes_at": iso(cycle.voting_closes_at), "rules": cycle_rules(cycle), "projects": projects,
    }


@bp.get("/cycles/<int:cycle_id>")
@public
@validate(resp=answers(200, CycleDetail))
def cycle_detail(cycle_id):
    """A cycle with its voting window, rules and the projects on its ballot."""
    return jsonify(cycle_json(get_cycle(db.session, cycle_id)))


@bp.post("/communities/<code>/cycles")
@require_roles(Role.STAFF, Role.ADMIN)
@validate(json=CycleIn, resp=answers(201, CycleDetail, 409))
@transactional
def open_next_cycle(code):
    """Open a community's cycle for a year (in phase collection); 409 when that year exists."""
    body = request_body(CycleIn)
    community = get_community(db.session, code)
    cycle = open_cycle(db.session, acting_user(), community, body.year, body.fund)
    response = jsonify(cycle_json(cycle))
    response.status_code = 201
    response.headers["Location"] = url_for("api.cycle_detail", cycle_id=cycle.id)
    return response


@bp.post("/cycles/<int:cycle_id>/phase")
@require_roles(Role.STAFF)
@validate(json=PhaseIn, resp=answers(200, CycleMoved, 409))
@transactional
def change_phase(cycle_id):
    """Move the cycle on to its next phase (a reason is needed to close voting early)."""
    body = request_body(PhaseIn)
    cycle = move_phase(db.session, acting_user(), get_cycle(db.session, cycle_id), body.phase, body.reason)
    return jsonify(cycle_json(cycle) | {"closed_early_reason": cycle.closed_early_reason})


@bp.get("/cycles/<int:cycle_id>/close-preview")
@require_roles(Role.STAFF)
@validate(resp=answers(200, ClosePreview, 409))
@transactional  # each look at the count before the close is logged
def preview_close(cycle_id):
    """Before closing the vote early: the turnout and what the count would fund now (nothing stored)."""
    cycle = get_cycle(db.session, cycle_id)
    preview = close_preview(db.session, acting_user(), cycle)
    count, turnout = preview.count, preview.turnout
    return jsonify(
        turnout={"voted": turnout.voted, "eligible": turnout.eligible, "percent": turnout.percent},
        min_turnout_percent=preview.min_turnout_percent, below_min_turnout=count.below_min_turnout,
        funds_nothing=preview.funds_nothing, would_fund=count.selected,
        cost=yuan(sum(r["cost_fen"] for r in count.outcomes if r["selected"])),
        projects=[{"id": r["id"], "title": r["project"].title, "votes": r["votes"], "cost": yuan(r["cost_fen"]),
                   "selected": r["selected"], "reason_code": r["reason_code"], "reason": r["reason"]}
                  for r in explained(db.session, cycle, count.outcomes)],
    )


@bp.put("/cycles/<int:cycle_id>/window")
@require_roles(Role.STAFF)
@validate(json=WindowIn, resp=answers(200, CycleDetail, 409))
@transactional
def change_window(cycle_id):
    """Set the voting window (ISO 8601 times with their zone) before voting opens."""
    cycle = cycle_for_staff(db.session, acting_user(), cycle_id)
    body = request_body(WindowIn)
    opens = utc_time_value(body.voting_opens_at, "voting_opens_at", str(_l("Voting opens")))
    closes = utc_time_value(body.voting_closes_at, "voting_closes_at", str(_l("Voting closes")))
    cycle = set_window(db.session, acting_user(), cycle, opens, closes)
    return jsonify(cycle_json(cycle))


@bp.put("/cycles/<int:cycle_id>/rules")
@require_roles(Role.STAFF)
@validate(json=RulesIn, resp=answers(200, CycleDetail, 409))
@transactional
def change_rules(cycle_id):
    """Set the voting method, the outcome rule and their limits before voting opens."""
    body = request_body(RulesIn)
    cycle = set_rules(db.session, acting_user(), get_cycle(db.session, cycle_id), body.model_dump())
    return jsonify(cycle_json(cycle))
