"""Accounts: passwords, sign-in, API tokens."""
from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..database import utcnow
from ..driver import DriverStatement, per_dialect
from ..enums import COMMUNITY_ROLES, Role
from ..errors import Invalid, Unauthorized
from ..geography.models import Community, Grid
from ..residents.models import Resident
from ..residents.services import hash_id_number, validate_id_number
from .models import ROLES, ApiToken, User

MIN_PASSWORD_LENGTH = 8
MAX_USERNAME = 80
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


def check_username(username: str) -> None:
    """:raises Invalid: bad_username unless 1 to 80 characters without spaces or control characters."""
    if not username or len(username) > MAX_USERNAME:
        raise Invalid(_("A username needs 1 to 80 characters."), "bad_username")
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in username):
        raise Invalid(_("A username has no spaces or invisible characters."), "bad_username")


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
        token_hash=token_hash(token),
        session_version=user.session_version,
        expires_at=utcnow() + timedelta(hours=lifetime_hours),
    )
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class ResidentFacts:
    """The registry facts of an account's resident that casting checks (read with the token)."""

    id: int
    community_id: int
    grid_id: int
    status: str
    created_at: datetime  # when the registry listed them: the electorate is fixed when voting opens
    facts_since: datetime  # since when community_id, status and household are as they are
    adult_on: date | None  # the day they turn 18, for who registered under 18
    household: str

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Bearer:
    """The account an API token stands for: its scope and its resident's facts, read with the token
    in one statement on the driver's cursor (no ORM entities: casting, the API's busiest call, needs nothing more;
    `access.acting_user()` loads the account itself for the views that need it)."""

    id: int
    role: str
    community_id: int | None
    grid_id: int | None
    resident: ResidentFacts | None
    is_enabled: bool = True  # a disabled account's tokens are refused


def user_for_token(session, token: str) -> Bearer | None:
    """The account a bearer token stands for, or None when unknown, expired or ended."""
    connection = session.connection()
    rows = _token_query(connection).rows(connection, {"token_hash": token_hash(token)})
    return bearer_of(rows[0]) if rows else None


def bearer_query():
    """The select of a token's `bearer_of` columns, for the `token_hash` parameter: the token, its
    account and the account's resident, each column named after its table. The casting path reads it
    in the same statement as the cycle (`ballots.casting.cycle_for_casting`)."""
    token, user, resident = ApiToken.__table__.c, User.__table__.c, Resident.__table__.c
    return (select(token.expires_at.label("token_expires_at"), token.session_version.label("token_version"),
                   user.id.label("user_id"), user.role.label("user_role"),
                   user.community_id.label("user_community_id"), user.grid_id.label("user_grid_id"),
                   user.is_enabled.label("user_is_enabled"), user.session_version.label("user_session_version"),
                   resident.id.label("resident_id"), resident.community_id.label("resident_community_id"),
                   resident.grid_id.label("resident_grid_id"), resident.status.label("resident_status"),
                   resident.created_at.label("resident_created_at"),
                   resident.facts_since.label("resident_facts_since"), resident.adult_on.label("resident_adult_on"),
                   resident.household.label("resident_household"))
            .select_from(ApiToken.__table__.join(User.__table__, user.id == token.user_id)
                         .outerjoin(Resident.__table__, resident.id == user.resident_id))
            .where(token.token_hash == bindparam("token_hash")))


def bearer_of(row) -> Bearer | None:
    """The `Bearer` of a row of `bearer_query`'s columns, or None when the token has expired, its
    account is disabled or the account's sessions were ended since it was issued."""
    if (row.token_expires_at <= utcnow() or not row.user_is_enabled
            or row.user_session_version != row.token_version):
        return None
    resident = None if row.resident_id is None else ResidentFacts(row.resident_id, row.resident_community_id,
                                                                     row.resident_grid_id, row.resident_status,
                                                                     row.resident_created_at,
                                                                     row.resident_facts_since,
                                                                     row.resident_adult_on, row.resident_household)
    return Bearer(row.user_id, row.user_role, row.user_community_id, row.user_grid_id, resident)


@per_dialect
def _token_query(dialect) -> DriverStatement:
    """One round trip for every API request, on the driver's cursor (see `DriverStatement`)."""
    return DriverStatement(bearer_query(), dialect)


def user_for_session_id(session, session_id: str) -> User | None:
    """Flask-Login's user loader: '<id>:<session_version>', refused once the version moved on."""
    user_id, _sep, version = session_id.partition(":")
    if not (session_id.isascii() and user_id.isdigit() and version.isdigit() and len(user_id) < 19):
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
    check_username(username)
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
    needs_community = role in COMMUNITY_ROLES
    if needs_community != (community is not None):
        raise Invalid(_("Role %(role)s needs a community; admin and auditor accounts have none.", role=role))
    if (role == Role.GRID_WORKER) != (grid is not None):
        raise Invalid(_("A grid worker account needs --grid, and only a grid worker has one."))
    if resident_id is not None and role != Role.RESIDENT:
        raise Invalid(_("Only a resident account links to the resident registry."))
    user = User(username=username, password_hash=password_hash, role=role,
                community_id=community.id if community else None, grid_id=grid.id if grid else None,
                resident_id=resident_id)
    session.add(user)
    session.flush()
    return user


def registered_resident(session, role: str, id_number: str | None, community_code: str | None,
                        keys: list[str]) -> Resident | None:
    """The registered resident a new account of `role` belongs to: a resident's account needs the
    ID number of an active resident of the registry (hashed under any of the server's keys) who has
    no account yet; other roles have none.

    :raises Invalid: no or another role's ID number, a bad or unknown ID number, a resident who moved
        away, of another community than `community_code`, or with an account already.
    """
    if role != Role.RESIDENT:
        if id_number:
            raise Invalid(_("Only a resident account links to the resident registry."))
        return None
    if not id_number:
        raise Invalid(_("A resident's account needs --id-number of a registered resident."), "id_number_required")
    number = validate_id_number(id_number)
    resident = session.scalar(select(Resident).where(Resident.id_hash.in_([hash_id_number(k, number) for k in keys])))
    if resident is None:
        raise Invalid(_("No resident with this ID number is registered. Import the registry first."),
                      "unknown_resident")
    if not resident.is_active:
        raise Invalid(_("This resident no longer lives in the community (the registry says so)."), "not_registered")
    if community_code and resident.community.code != community_code:
        raise Invalid(_("This resident is registered in %(community)s, not in '%(code)s'.",
                        community=resident.community.code, code=community_code), "wrong_community")
    taken = session.scalar(select(User.username).where(User.resident_id == resident.id))
    if taken:
        raise Invalid(_("This resident already has the account '%(u)s'.", u=taken), "already_activated")
    return resident


def token_hash(token: str) -> str:
    """What is stored of an API token: its SHA-256, in hex."""
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
