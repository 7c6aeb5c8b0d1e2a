from flask import Blueprint, render_template, url_for

from ..accounts.access import public
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..extensions import db
from ..format import qr_svg
from .services import published_result

bp = Blueprint("results", __name__)


@bp.get("/cycles/<int:cycle_id>/results")
@public
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def show(cycle_id):
    """The published result: votes per project against the fund, each project's reason, turnout."""
    view = published_result(db.session, get_cycle(db.session, cycle_id), utcnow())
    return render_template("results/show.html", view=view, cycle=view.cycle, result=view.result)


@bp.get("/cycles/<int:cycle_id>/results/notice")
@public
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def notice(cycle_id):
    """The result as the public notice (公示) to print and post: every project, its votes and reason."""
    view = published_result(db.session, get_cycle(db.session, cycle_id), utcnow())
    address = url_for("results.show", cycle_id=cycle_id, _external=True)
    return render_template("results/notice.html", view=view, cycle=view.cycle, result=view.result,
                           address=address, qr=qr_svg(address), now=utcnow())
