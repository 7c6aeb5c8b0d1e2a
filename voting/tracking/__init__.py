"""Following the money: implementation tracking, the fund ledger, the completed-projects archive."""
from flask import Blueprint

bp = Blueprint("tracking", __name__)

from . import views  # noqa: E402,F401
