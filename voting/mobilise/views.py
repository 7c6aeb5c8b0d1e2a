from flask import Blueprint, render_template
from flask_login import current_user

from ..accounts.access import require_roles
from ..cycles.services import get_cycle
from ..database import transactional, utcnow
from ..enums import Role
from ..extensions import db
from .services import doors_to_knock, grid_turnout

bp = Blueprint("mobilise", __name__)


@bp.get("/cycles/<int:cycle_id>/turnout")
@require_roles(Role.STAFF, Role.ADMIN)
@transactional
def turnout(cycle_id):
    """Staff: how many residents of each grid have voted so far (counts only; the view is logged)."""
    cycle = get_cycle(db.session, cycle_id)
    now = utcnow()
    grids = grid_turnout(db.session, current_user, cycle, now)
    return render_template("mobilise/turnout.html", cycle=cycle, grids=grids, now=now,
                           voted=sum(g.voted for g in grids), eligible=sum(g.eligible for g in grids))


@bp.get("/cycles/<int:cycle_id>/doors")
@require_roles(Role.GRID_WORKER)
@transactional
def doors(cycle_id):
    """A grid worker: the residents of their grid who have not voted yet, door by door (logged)."""
    cycle = get_cycle(db.session, cycle_id)
    now = utcnow()
    return render_template("mobilise/doors.html", cycle=cycle, doors=doors_to_knock(db.session, current_user,
                                                                                      cycle, now), now=now)
