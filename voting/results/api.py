from flask import jsonify

from ..accounts.access import public
from ..api import bp
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..extensions import db
from ..money import yuan
from .services import published_result


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
        projects=[{"id": r["id"], "votes": r["votes"], "cost": yuan(r["cost_fen"]), "selected": r["selected"],
                   "reason": r["reason"], "reason_code": r["reason_code"]} for r in view.rows],
    )
