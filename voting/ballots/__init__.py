"""Ballots: casting, revising, receipts; the voter roll kept apart."""
from flask import Blueprint

bp = Blueprint("ballots", __name__)

from . import paper_views, views  # noqa: E402,F401
