from flask import render_template, url_for

from ..accounts.access import public
from ..cycles.services import ballot_projects, get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..extensions import db
from ..format import qr_svg
from . import bp
from .services import ensure_result, outcomes, reason_message, selected_ids


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
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
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
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
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
