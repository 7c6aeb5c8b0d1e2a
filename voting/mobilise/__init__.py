"""Getting out the vote: turnout per grid for staff, and for a grid worker the door-to-door list of
the residents of their own grid who have not voted yet. Who has voted, never how."""
from flask import Blueprint

bp = Blueprint("mobilise", __name__)

from . import views  # noqa: E402,F401
