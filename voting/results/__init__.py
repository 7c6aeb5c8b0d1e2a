"""The published result of a vote."""
from flask import Blueprint

bp = Blueprint("results", __name__)

from . import views  # noqa: E402,F401
