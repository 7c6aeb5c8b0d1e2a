from flask import current_app, jsonify
from flask_babel import lazy_gettext as _l

from ..api import bp
from ..api.schema import Answer, Body, answers, request_body, text, validate
from ..config import secret_keys
from ..database import reads_before_lock, transactional
from ..enums import Role
from ..extensions import db
from .access import acting_user, public
from .activation import MAX_CODE_TEXT, MAX_ID_TEXT, MAX_PASSWORD, Activation, activate_account
from .limits import activation_limits, sign_in_limits
from .services import MAX_USERNAME, authenticate, issue_token

USERNAME = text(_l("The username"), MAX_USERNAME)
PASSWORD = text(_l("The password"), MAX_PASSWORD)


class Credentials(Body):
    username: USERNAME
    password: PASSWORD


class Token(Answer):
    token: str
    expires_at: str  # UTC, ISO 8601 with Z


class ActivationIn(Body):
    voting_code: text(_l("The voting code"), MAX_CODE_TEXT)
    id_last6: text(_l("The last six characters of the ID number"), MAX_ID_TEXT)
    username: USERNAME
    password: PASSWORD
    community: text(_l("The community"), 40, required=False) = None


class Activated(Answer):
    username: str
    replaced: bool  # an existing account got this password (200) rather than a new account (201)


class CommunityRef(Answer):
    code: str
    name: str


class Me(Answer):
    username: str
    role: Role
    community: CommunityRef | None


@bp.post("/auth/token")
@public
@validate(json=Credentials, resp=answers(200, Token, 401))
@sign_in_limits
@reads_before_lock
@transactional
def create_token():
    """Exchange username and password for an expiring bearer token.

    The password is checked before SQLite's write lock, which the token's row takes: the hash holds
    no cast up. A token issued for an account changed in between is harmless: it carries the session
    version read with the password, and is refused once that moved on or the account is disabled."""
    body = request_body(Credentials)
    user = authenticate(db.session, body.username, body.password)
    token, row = issue_token(db.session, user, current_app.config["TOKEN_LIFETIME_HOURS"])
    return jsonify(token=token, expires_at=row.expires_at.isoformat() + "Z")


@bp.post("/auth/activate")
@public
@validate(json=ActivationIn, resp=answers(201, Activated, 401, 409))
@activation_limits
@transactional
def activate():
    """Activate a registered resident's account with the personal voting code and the ID number's last six."""
    done = activate_account(db.session, Activation.from_json(request_body(ActivationIn).model_dump()), secret_keys(current_app.config))
    return jsonify(username=done.user.username, replaced=done.replaced), 200 if done.replaced else 201


@bp.get("/me")
@validate(resp=answers(200, Me))
def me():
    """Who the token belongs to."""
    user = acting_user()
    community = {"code": user.community.code, "name": user.community.name} if user.community else None
    return jsonify(username=user.username, role=user.role, community=community)
