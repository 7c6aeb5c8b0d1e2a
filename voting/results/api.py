from flask import jsonify

from ..accounts.access import acting_user, public, require_roles
from ..api import bp, json_body
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Role
from ..extensions import db
from ..money import yuan
from .models import Objection
from .services import (
    NoticePeriod, answer_objection, cycle_objections, file_objection, notice_period, published_result,
)


def iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


@bp.get("/cycles/<int:cycle_id>/results")
@public
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def cycle_results(cycle_id):
    """The result of a closed vote (409 results_not_ready before the close)."""
    view = published_result(db.session, get_cycle(db.session, cycle_id), utcnow())
    cycle, result = view.cycle, view.result
    return jsonify(
        outcome_rule=cycle.outcome_rule, ballots_counted=result.ballots_counted, eligible=result.eligible_voters,
        turnout=round(view.turnout, 4), min_turnout_percent=cycle.min_turnout_percent,
        below_min_turnout=view.below_min_turnout, selected=view.selected, tie_break=result.tie_break,
        chain={"seq": result.chain_seq, "head": result.chain_head},
        notice=notice_json(notice_period(cycle), utcnow()),
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
def cycle_objection_list(cycle_id):
    """The objections to a cycle's result with their answers, and the notice period (public)."""
    cycle = get_cycle(db.session, cycle_id)
    return jsonify(cycle=cycle.id, notice=notice_json(notice_period(cycle), utcnow()),
                   objections=[objection_json(o) for o in cycle_objections(db.session, cycle)])


@bp.post("/cycles/<int:cycle_id>/objections")
@require_roles(Role.RESIDENT)
@transactional
def file_cycle_objection(cycle_id):
    """A resident of the community objects to the result during its public notice: {"text"}."""
    body = json_body()
    objection = file_objection(db.session, acting_user(), get_cycle(db.session, cycle_id), body.get("text"),
                               utcnow())
    return jsonify(objection_json(objection)), 201


@bp.post("/objections/<int:objection_id>/answer")
@require_roles(Role.STAFF)
@transactional
def answer_cycle_objection(objection_id):
    """The community's staff answer an objection in public, once: {"text"}."""
    objection = answer_objection(db.session, acting_user(), objection_id, json_body().get("text"), utcnow())
    return jsonify(objection_json(objection))
