"""The district's places and their public pages."""
from flask import Blueprint

bp = Blueprint("geography", __name__)

from . import views  # noqa: E402,F401
