"""Residents activate their own account with the personal voting code on their slip and the last
six characters of their ID number; the same, with a new code from the staff, replaces a lost password.

Finding the code's resident: a code is 12 random digits kept only as a slow, salted hash (scrypt),
so it cannot be looked up. Each resident holding a code also has its short keyed tag
(`ballots.codes.voting_code_tag`, 16 bits, shared by a few residents); activation reads the
residents with the code's tag (under each of the server's keys), keeps those whose ID digits match
(a fast keyed hash), and checks the slow hash of those few: one slow hash an attempt whatever the
answer (a stand-in when no resident matches), so the time taken says nothing either.

A wrong code and wrong ID digits get the same answer (401 `activation_failed`) and count against
the rate limits (`limits.activation_limits`). Only the holder of both learns more: that the code was
used already (409 `already_activated`), that it is of another community, or that the resident is
no longer registered.
"""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import or_, select
from werkzeug.security import check_password_hash, generate_password_hash

from ..audit.services import log_action
from ..ballots.codes import VOTING_CODE_DIGITS, normalise_voting_code, voting_code_tag
from ..enums import Role
from ..errors import Conflict, Forbidden, Invalid, Unauthorized
from ..residents.idcheck import id_last6_matches, normalise_id_last6
from ..residents.models import Resident
from .models import User
from .services import check_password_policy, check_username, create_user, end_sessions, hash_password

# Longest accepted text of each field: enough for any way of typing it, and nothing is hashed or
# stored before these are checked.
MAX_CODE_TEXT = 40  # "1234 5678 9012" with any spaces and dashes
MAX_ID_TEXT = 20
MAX_PASSWORD = 200
# Checked when no resident matches, so that every attempt costs one slow hash.
_STAND_IN_HASH = generate_password_hash(secrets.token_hex(6))


@dataclass(frozen=True)
class Activation:
    """What a resident sends to activate: as typed, checked by `activate_account`."""

    voting_code: str
    id_last6: str
    username: str
    password: str
    community: str | None = None  # the community the resident is activating in, when the client knows it

    @classmethod
    def from_json(cls, body: dict) -> Activation:
        """:raises Invalid: missing_fields when a field is missing or not text."""
        fields = {name: body.get(name) for name in ("voting_code", "id_last6", "username", "password")}
        if not all(isinstance(value, str) and value.strip() for value in fields.values()):
            raise Invalid(_("Send voting_code, id_last6, username and password, each as text."), "missing_fields")
        community = body.get("community")
        if community is not None and not isinstance(community, str):
            raise Invalid(_("community is a community's code, as text."), "missing_fields")
        return cls(**fields, community=community or None)


@dataclass(frozen=True)
class Activated:
    user: User
    replaced: bool  # an existing account got a new password (and perhaps a new username)


def activate_account(session, activation: Activation, keys: list[str]) -> Activated:
    """Create the account of the resident whose personal voting code and ID digits these are, or,
    when the resident has one, give it this password (and username) and end its sessions. The code
    then works no more. Logged.

    :raises Invalid: a code or ID digits that cannot be one (bad_voting_code, bad_id_last6), a bad
        username (bad_username), a weak password, a field too long, a username taken, a community
        that is not the resident's (wrong_community).
    :raises Unauthorized: activation_failed: no resident has this code and these ID digits.
    :raises Conflict: already_activated: this code has activated the account already.
    :raises Forbidden: not_registered (the resident moved away), account_disabled.
    """
    digits, last6 = _check_format(activation)
    username = activation.username.strip()
    check_username(username)
    check_password_policy(activation.password)
    resident, used = _find_resident(session, digits, last6, keys)
    if activation.community and activation.community != resident.community.code:
        raise Invalid(_("This voting code is for %(community)s, not for the community you chose.",
                        community=resident.community.name), "wrong_community")
    account = session.scalar(select(User).where(User.resident_id == resident.id))
    if used:
        raise Conflict(_("This voting code has been used already: its account is '%(u)s'. Sign in with it; "
                         "if you lost the password, ask the community staff for a new code.",
                         u=account.username if account else ""), "already_activated")
    if not resident.is_active:
        raise Forbidden(_("The registry lists you as no longer living in the community. "
                          "Please ask the community staff."), "not_registered")
    if account is None:
        account = create_user(session, role=Role.RESIDENT, username=username, password=activation.password,
                              community_code=resident.community.code, resident_id=resident.id)
        detail = {}
    else:
        detail = _replace_password(session, account, username, activation.password)
    resident.used_code_hash, resident.voting_code_hash = resident.voting_code_hash, None
    session.flush()
    log_action(session, account, "accounts.reactivate" if detail else "accounts.activate", resident.community,
               resident=resident.id, **{key: value for key, value in detail.items() if key != "replaced"})
    return Activated(account, bool(detail))


def _check_format(activation: Activation) -> tuple[str, str]:
    """The code's digits and the ID digits, normalised: a format is public, so saying which field
    does not have it tells nothing.

    :raises Invalid: bad_voting_code, bad_id_last6, too_long.
    """
    if len(activation.password) > MAX_PASSWORD:
        raise Invalid(_("A password has at most %(n)d characters.", n=MAX_PASSWORD), "too_long")
    digits = normalise_voting_code(activation.voting_code)
    if len(activation.voting_code) > MAX_CODE_TEXT or len(digits) != VOTING_CODE_DIGITS \
            or re.search(r"[^\d\s\-]", activation.voting_code):
        raise Invalid(_("A personal voting code has 12 digits, as printed on your slip."), "bad_voting_code")
    last6 = normalise_id_last6(activation.id_last6) if len(activation.id_last6) <= MAX_ID_TEXT else None
    if last6 is None:
        raise Invalid(_("Type the last six characters of your ID number: digits, the last may be X."),
                      "bad_id_last6")
    return digits, last6


def _find_resident(session, digits: str, last6: str, keys: list[str]) -> tuple[Resident, bool]:
    """The resident with this code and these ID digits, and whether the code was used already; the
    resident's row is locked until the commit (two activations with one code: the second waits,
    then finds the code used).

    :raises Unauthorized: activation_failed, the same for a wrong code and wrong digits.
    """
    tags = {voting_code_tag(key, digits) for key in keys}
    candidates = session.execute(
        select(Resident.id, Resident.id_last6_hash)
        .where(Resident.voting_code_tag.in_(tags),
               or_(Resident.voting_code_hash.is_not(None), Resident.used_code_hash.is_not(None)))
        .order_by(Resident.id)
    ).all()
    matching = [row.id for row in candidates if id_last6_matches(keys, row.id_last6_hash, last6)]
    for resident_id in matching:
        resident = session.scalar(select(Resident).where(Resident.id == resident_id)
                                  .with_for_update().execution_options(populate_existing=True))
        stored, used = ((resident.voting_code_hash, False) if resident.voting_code_hash
                        else (resident.used_code_hash, True))
        if stored and check_password_hash(stored, digits):
            return resident, used
    if not matching:
        check_password_hash(_STAND_IN_HASH, digits)
    raise Unauthorized(_("The voting code and the last six characters of the ID number do not match our "
                         "registry. Check both against your slip and your ID card, or ask your grid worker."),
                       "activation_failed")


def _replace_password(session, account: User, username: str, password: str) -> dict:
    """A resident who lost the password (or the username): the account takes this password, and this
    username when it differs and is free; every session and token of the account ends.

    Returns what the action log says of it.

    :raises Forbidden: account_disabled. :raises Invalid: username_taken.
    """
    detail = {"replaced": True}
    if not account.is_enabled:
        raise Forbidden(_("This account has been disabled. Please ask the community staff."), "account_disabled")
    if username != account.username:
        if session.scalar(select(User.id).where(User.username == username)):
            raise Invalid(_("The username '%(u)s' is taken.", u=username), "username_taken")
        detail["renamed_from"], account.username = account.username, username
    account.password_hash = hash_password(password)
    end_sessions(account)
    session.flush()
    return detail

