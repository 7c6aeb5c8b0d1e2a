from flask import current_app, jsonify
from flask_babel import gettext as _

from ..api import bp, json_body
from ..errors import Invalid
from ..extensions import db
from ..database import reads_before_lock, transactional
from ..config import secret_keys
from .access import acting_user, public
from .activation import Activation, activate_account
from .limits import activation_limits, sign_in_limits
from .services import authenticate, issue_token


@bp.post("/auth/token")
@public
@sign_in_limits
@reads_before_lock
@transactional
def create_token():
    """Exchange username and password for an expiring bearer token.

    The password is checked before SQLite's write lock, which the token's row takes: the hash holds
    no cast up. A token issued for an account changed in between is harmless: it carries the session
    version read with the password, and is refused once that moved on or the account is disabled."""
    body = json_body()
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str) or not username or not password:
        raise Invalid(_("Send a username and a password."), "missing_credentials")
    user = authenticate(db.session, username, password)
    token, row = issue_token(db.session, user, current_app.config["TOKEN_LIFETIME_HOURS"])
    return jsonify(token=token, expires_at=row.expires_at.isoformat() + "Z")


@bp.post("/auth/activate")
@public
@activation_limits
@transactional
def activate():
    """Activate a registered resident's account with the personal voting code and the ID number's last six."""
    done = activate_account(db.session, Activation.from_json(json_body()), secret_keys(current_app.config))
    return jsonify(username=done.user.username, replaced=done.replaced), 200 if done.replaced else 201


@bp.get("/me")
def me():
    """Who the token belongs to."""
    user = acting_user()
    community = {"code": user.community.code, "name": user.community.name} if user.community else None
    return jsonify(username=user.username, role=user.role, community=community)
