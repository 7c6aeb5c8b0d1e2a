"""Proposals and projects: the proposal form, "my proposals", a proposal's page and its photos."""
from flask import Blueprint

bp = Blueprint("proposals", __name__)

from . import views  # noqa: E402,F401
