from flask import Blueprint, render_template, url_for

from ..accounts.access import public
from ..cycles.services import get_cycle
from ..database import transactional, utcnow
from ..extensions import db
from ..format import qr_svg
from ..proposals.ballot import ballot_projects
from .services import ensure_result, outcomes, reason_message, selected_ids

bp = Blueprint("results", __name__)


def result_view(cycle, result) -> dict:
    """What the page and the API show: projects in ranking order with votes, cost and reason."""
    projects = {p.id: p for p in ballot_projects(db.session, cycle)}
    titles = {p.id: p.title for p in projects.values()}
    rows = [dict(o, project=projects[o["id"]], reason=reason_message(o["reason_code"], o["reason_args"], titles))
            for o in outcomes(result)]
    turnout = result.ballots_counted / result.eligible_voters if result.eligible_voters else 0.0
    return {"rows": rows, "selected": selected_ids(result), "turnout": turnout}


@bp.get("/cycles/<int:cycle_id>/results")
@public
@transactional
def show(cycle_id):
    """The published result: votes per project against the fund, each project's reason, turnout."""
    cycle = get_cycle(db.session, cycle_id)
    result = ensure_result(db.session, cycle, utcnow())
    view = result_view(cycle, result)
    funded_cost = sum(r["cost_fen"] for r in view["rows"] if r["selected"])
    return render_template("results/show.html", cycle=cycle, result=result, funded_cost=funded_cost,
                           max_votes=max([r["votes"] for r in view["rows"]] + [1]), **view)


@bp.get("/cycles/<int:cycle_id>/results/notice")
@public
@transactional
def notice(cycle_id):
    """The result as the public notice (公示) to print and post: every project, its votes and reason."""
    cycle = get_cycle(db.session, cycle_id)
    result = ensure_result(db.session, cycle, utcnow())
    view = result_view(cycle, result)
    funded_cost = sum(r["cost_fen"] for r in view["rows"] if r["selected"])
    address = url_for("results.show", cycle_id=cycle.id, _external=True)
    return render_template("results/notice.html", cycle=cycle, result=result, funded_cost=funded_cost,
                           address=address, qr=qr_svg(address), now=utcnow(), **view)
