"""The yearly cycle: phases, voting rules, the fund; its public page and the staff dashboard."""
from flask import Blueprint

bp = Blueprint("cycles", __name__)

from . import views  # noqa: E402,F401
