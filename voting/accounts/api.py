from flask import current_app, jsonify
from flask_babel import gettext as _

from ..api import bp, json_body
from ..errors import Invalid
from ..extensions import db
from ..database import transactional
from .access import acting_user, public
from .limits import sign_in_limits
from .services import authenticate, issue_token


@bp.post("/auth/token")
@public
@sign_in_limits
@transactional
def create_token():
    """Exchange username and password for an expiring bearer token."""
    body = json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise Invalid(_("Send a username and a password."), "missing_credentials")
    user = authenticate(db.session, username, password)
    token, row = issue_token(db.session, user, current_app.config["TOKEN_LIFETIME_HOURS"])
    return jsonify(token=token, expires_at=row.expires_at.isoformat() + "Z")


@bp.get("/me")
def me():
    """Who the token belongs to."""
    user = acting_user()
    community = {"code": user.community.code, "name": user.community.name} if user.community else None
    return jsonify(username=user.username, role=user.role, community=community)
