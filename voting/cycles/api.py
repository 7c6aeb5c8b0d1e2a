from flask import jsonify

from ..accounts.access import public
from ..api import bp
from ..database import utcnow
from ..extensions import db
from ..money import yuan
from .models import Cycle
from .services import ballot_projects, get_cycle


def iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def cycle_summary(cycle: Cycle) -> dict:
    return {"id": cycle.id, "year": cycle.year, "fund": yuan(cycle.fund_fen), "phase": cycle.current_phase(utcnow())}


def cycle_rules(cycle: Cycle) -> dict:
    return {
        "method": cycle.method, "min_choices": cycle.min_choices, "max_choices": cycle.max_choices,
        "points": cycle.points, "threshold": cycle.threshold, "outcome_rule": cycle.outcome_rule,
    }


@bp.get("/cycles/<int:cycle_id>")
@public
def cycle_detail(cycle_id):
    """A cycle with its rules and the projects on its ballot."""
    cycle = get_cycle(db.session, cycle_id)
    projects = [
        {"id": p.id, "title": p.title, "cost": yuan(p.ballot_cost_fen), "category": p.category, "status": p.status}
        for p in ballot_projects(db.session, cycle)
    ]
    return jsonify(
        cycle_summary(cycle)
        | {"community": cycle.community.code, "voting_opens_at": iso(cycle.voting_opens_at),
           "voting_closes_at": iso(cycle.voting_closes_at), "rules": cycle_rules(cycle), "projects": projects}
    )
