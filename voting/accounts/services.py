"""Accounts: passwords, sign-in, API tokens."""
from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import utcnow
from ..errors import Invalid, Unauthorized
from ..geography.models import Community, Grid
from .models import ROLES, ApiToken, User

MIN_PASSWORD_LENGTH = 8
# Checked against when the username is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password-" + secrets.token_hex(8))


def hash_password(password: str) -> str:
    """Hash with werkzeug's default (scrypt, salted)."""
    return generate_password_hash(password)


def check_password_policy(password: str) -> None:
    """:raises Invalid: when the password is too short or has only one kind of character."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(_("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH), "weak_password")
    kinds = [any(c.isdigit() for c in password), any(c.isalpha() for c in password)]
    if not all(kinds):
        raise Invalid(_("A password needs both letters and digits."), "weak_password")


def authenticate(session, username: str, password: str) -> User:
    """Return the enabled account with these credentials.

    :raises Unauthorized: the same message whether the user is unknown or the password wrong.
    """
    user = session.scalar(select(User).where(User.username == username))
    password_hash = user.password_hash if user else _DUMMY_HASH
    valid = check_password_hash(password_hash, password)
    if not (user and valid and user.is_enabled):
        raise Unauthorized(_("Wrong username or password."), "invalid_credentials")
    return user


def issue_token(session, user: User, lifetime_hours: int) -> tuple[str, ApiToken]:
    """Create an API token; only its hash is stored. Returns (the token, its row)."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        session_version=user.session_version,
        expires_at=utcnow() + timedelta(hours=lifetime_hours),
    )
    session.add(row)
    session.flush()
    return token, row


def user_for_token(session, token: str) -> User | None:
    """The account a bearer token stands for, or None when unknown, expired or ended."""
    found = session.execute(_token_query(), {"token_hash": _token_hash(token)}).one_or_none()
    if found is None:
        return None
    user, expires_at, session_version = found
    if expires_at <= utcnow() or not user.is_enabled or user.session_version != session_version:
        return None
    return user


@functools.cache
def _token_query():
    """One round trip for every API request: the token's expiry and version with its account and
    the account's resident (`contains_eager`: the join is written here, not added by a loader; and
    whole rows: `load_only` costs more time than the columns it leaves out). Built once, so its
    cache key is computed once too."""
    return (select(User, ApiToken.expires_at, ApiToken.session_version)
            .join(ApiToken, ApiToken.user_id == User.id)
            .outerjoin(User.resident)
            .where(ApiToken.token_hash == bindparam("token_hash"))
            .options(contains_eager(User.resident)))


def user_for_session_id(session, session_id: str) -> User | None:
    """Flask-Login's user loader: '<id>:<session_version>', refused once the version moved on."""
    user_id, _sep, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.is_enabled:
        return None
    return user


def create_user(session, *, role: str, username: str, password: str, community_code: str | None = None,
                grid_code: str | None = None, resident_id: int | None = None,
                password_hash: str | None = None) -> User:
    """Create an account with its scope.

    :raises Invalid: unknown role, community or grid, a scope that does not fit the role, a taken
        username or a weak password.
    """
    if role not in ROLES:
        raise Invalid(_("Unknown role '%(role)s'; use one of %(roles)s.", role=role, roles=", ".join(ROLES)))
    if not username or len(username) > 80:
        raise Invalid(_("A username needs 1 to 80 characters."))
    if session.scalar(select(User.id).where(User.username == username)):
        raise Invalid(_("The username '%(u)s' is taken.", u=username), "username_taken")
    if password_hash is None:
        check_password_policy(password)
        password_hash = hash_password(password)
    community = grid = None
    if grid_code:
        grid = session.scalar(select(Grid).where(Grid.code == grid_code))
        if grid is None:
            raise Invalid(_("Unknown grid '%(code)s'.", code=grid_code))
        community = grid.community
    if community_code:
        by_code = session.scalar(select(Community).where(Community.code == community_code))
        if by_code is None:
            raise Invalid(_("Unknown community '%(code)s'.", code=community_code))
        if community is not None and community.id != by_code.id:
            raise Invalid(_("Grid '%(grid)s' is not in community '%(code)s'.", grid=grid_code, code=community_code))
        community = by_code
    needs_community = role in ("resident", "grid_worker", "staff")
    if needs_community != (community is not None):
        raise Invalid(_("Role %(role)s needs a community; admin and auditor accounts have none.", role=role))
    if (role == "grid_worker") != (grid is not None):
        raise Invalid(_("A grid worker account needs --grid, and only a grid worker has one."))
    if resident_id is not None and role != "resident":
        raise Invalid(_("Only a resident account links to the resident registry."))
    user = User(username=username, password_hash=password_hash, role=role,
                community_id=community.id if community else None, grid_id=grid.id if grid else None,
                resident_id=resident_id)
    session.add(user)
    session.flush()
    return user


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def end_sessions(user: User) -> None:
    """End every session and token of the account, server-side."""
    user.session_version += 1


def change_password(session, user: User, current: str, new: str) -> None:
    """Set a new password and end every other session and token of the account.

    :raises Unauthorized: when the current password is wrong.
    :raises Invalid: when the new password is weak or unchanged.
    """
    if not check_password_hash(user.password_hash, current):
        raise Unauthorized(_("The current password is wrong."), "invalid_credentials")
    if current == new:
        raise Invalid(_("Choose a password different from the current one."), "weak_password")
    check_password_policy(new)
    user.password_hash = hash_password(new)
    end_sessions(user)
    session.flush()
