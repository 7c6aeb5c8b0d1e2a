from flask import jsonify, url_for

from ..accounts.access import acting_user, public, require_roles
from ..enums import Role
from ..api import bp, json_body
from ..database import transactional, utcnow
from ..extensions import db
from ..geography.services import get_community
from ..money import yuan
from ..proposals.ballot import ballot_projects
from .models import Cycle
from .services import (
    close_preview, cycle_for_staff, get_cycle, move_phase, open_cycle, set_rules, set_window,
)
from ..results.services import explained
from ..validation import utc_time_value


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
def cycle_detail(cycle_id):
    """A cycle with its rules and the projects on its ballot."""
    return jsonify(cycle_json(get_cycle(db.session, cycle_id)))


@bp.post("/communities/<code>/cycles")
@require_roles(Role.STAFF, Role.ADMIN)
@transactional
def open_next_cycle(code):
    """Open a community's cycle for a year: {"year", "fund"? (admin only)}; it starts collecting."""
    body = json_body()
    community = get_community(db.session, code)
    cycle = open_cycle(db.session, acting_user(), community, body.get("year"), body.get("fund"))
    response = jsonify(cycle_json(cycle))
    response.status_code = 201
    response.headers["Location"] = url_for("api.cycle_detail", cycle_id=cycle.id)
    return response


@bp.post("/cycles/<int:cycle_id>/phase")
@require_roles(Role.STAFF)
@transactional
def change_phase(cycle_id):
    """Move the cycle on to the next phase: {"phase", "reason"?} (a reason to close voting early)."""
    body = json_body()
    cycle = move_phase(db.session, acting_user(), get_cycle(db.session, cycle_id), body.get("phase"),
                       body.get("reason"))
    return jsonify(cycle_json(cycle) | {"closed_early_reason": cycle.closed_early_reason})


@bp.get("/cycles/<int:cycle_id>/close-preview")
@require_roles(Role.STAFF)
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
@transactional
def change_window(cycle_id):
    """Set the voting window: {"voting_opens_at", "voting_closes_at"} as ISO 8601 times with a zone."""
    cycle = cycle_for_staff(db.session, acting_user(), cycle_id)
    body = json_body()
    opens = utc_time_value(body.get("voting_opens_at"), "voting_opens_at", "voting_opens_at")
    closes = utc_time_value(body.get("voting_closes_at"), "voting_closes_at", "voting_closes_at")
    cycle = set_window(db.session, acting_user(), cycle, opens, closes)
    return jsonify(cycle_json(cycle))


@bp.put("/cycles/<int:cycle_id>/rules")
@require_roles(Role.STAFF)
@transactional
def change_rules(cycle_id):
    """Set the voting rules before voting opens.

    Body: {method, min_choices, max_choices, points, threshold, outcome_rule, voters?,
    threshold_percent?, min_turnout_percent?, notice_days?}.
    """
    cycle = set_rules(db.session, acting_user(), get_cycle(db.session, cycle_id), json_body())
    return jsonify(cycle_json(cycle))
