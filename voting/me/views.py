"""The signed-in person's own page ("我的"): where sign-in lands, linked in the header."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from ..accounts.access import require_roles
from ..database import utcnow
from ..enums import Role
from ..extensions import db
from .services import home_of

bp = Blueprint("me", __name__)


@bp.get("/me")
@require_roles(*Role)
def home():
    """Each role's own work, one tap away: a resident's vote, receipt, proposals and ratings; staff's
    cycle and its next step; a grid worker's doors, assisted and paper ballots; the district views."""
    now = utcnow()
    return render_template("me/home.html", home=home_of(db.session, current_user, now), now=now)
