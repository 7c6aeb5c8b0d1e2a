"""The resident registry: ID numbers are checked, then kept only as a keyed hash."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import Invalid
from .idcheck import hash_id_last6

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a NUL, tab or line break in a cell (Alt+Enter in Excel)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """The check character of a resident ID number (GB 11643-1999)."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def validate_id_number(number: str) -> str:
    """Return the normalised 18-character ID number.

    :raises Invalid: when it is not 17 digits and a matching check character.
    """
    number = (number or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise Invalid(_("An ID number has 17 digits and a check digit or X (18 characters)."), "bad_id_number")
    if id_check_char(number[:17]) != number[17]:
        raise Invalid(_("The ID number's check digit does not match; please check it."), "bad_id_number")
    return number


def address_order(resident) -> tuple:
    """Sort residents as doors come: by address with numbers in number order (2栋 before 10栋), then name."""
    parts = re.split(r"(\d+)", resident.address or "")
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p), resident.name, resident.id


def hash_id_number(secret_key: str, number: str) -> str:
    """The keyed hash stored instead of the ID number (HMAC-SHA256 with the server's secret)."""
    key = hmac.new(secret_key.encode(), b"resident-id-number", hashlib.sha256).digest()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()


class RegistryRejected(Exception):
    """The registry file was refused as a whole; `problems` lists (row number, message)."""

    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def import_residents(session, community, rows, keys: list[str]) -> int:
    """Add every row to the community's registry, or none of them. The ID numbers are hashed with
    the app's current key (`keys[0]`); one registered under an earlier key of a rotation is known too.

    :raises RegistryRejected: naming each bad row: a bad ID number, an unknown grid, a resident
        already registered or listed twice, a missing name or address, over-long text.
    """
    from sqlalchemy import select

    from ..geography.models import Grid
    from .models import Resident

    grids = {g.code: g.id for g in session.scalars(select(Grid).where(Grid.community_id == community.id))}
    known = set(session.scalars(select(Resident.id_hash)))
    problems, residents, seen = [], [], {}
    for row in rows:
        values = {k: " ".join(_CONTROL.sub(" ", v).split()) for k, v in row.values.items()}  # one line of text
        row_problems = []
        for column, limit in (("name", 64), ("address", 200), ("phone", 32)):
            if len(values[column]) > limit:
                row_problems.append(_("%(column)s is longer than %(n)d characters", column=column, n=limit))

        if not values["name"]:
            row_problems.append(_("name is empty"))
        if not values["address"]:
            row_problems.append(_("address is empty"))
        if values["grid"] not in grids:
            row_problems.append(_("grid '%(grid)s' is not a grid of %(community)s",
                                  grid=values["grid"], community=community.code))
        id_hash, hashes = None, []
        try:
            number = validate_id_number(values["id_number"])
            hashes = [hash_id_number(key, number) for key in keys]
            id_hash = hashes[0]
        except Invalid as error:
            row_problems.append(error.message)
        if known.intersection(hashes):
            row_problems.append(_("this resident is already registered"))
        elif id_hash in seen:
            row_problems.append(_("the same ID number is on row %(row)d", row=seen[id_hash]))
        if id_hash:
            seen.setdefault(id_hash, row.number)
        if row_problems:
            problems.extend((row.number, problem) for problem in row_problems)
            continue
        residents.append(Resident(community_id=community.id, grid_id=grids[values["grid"]], name=values["name"],
                                  id_hash=id_hash, phone=values["phone"] or None, address=values["address"],
                                  id_last6_hash=hash_id_last6(keys[0], number)))
    if not rows:
        problems.append((1, _("the file has no residents")))
    if problems:
        raise RegistryRejected(problems)
    session.add_all(residents)
    session.flush()
    return len(residents)


@dataclass(frozen=True)
class GridRegistry:
    grid: object
    residents: int  # active residents
    with_code: int  # of them, with a personal voting code


@dataclass(frozen=True)
class CodeSlip:
    resident: object
    code: str  # plain text: exists only on this sheet


def registry_by_grid(session, community) -> list[GridRegistry]:
    """Each grid of the community with its number of active residents and of voting codes."""
    from sqlalchemy import and_, func, select

    from ..geography.models import Grid
    from .models import Resident

    rows = session.execute(
        select(Grid, func.count(Resident.id), func.count(Resident.voting_code_hash))
        .outerjoin(Resident, and_(Resident.grid_id == Grid.id, Resident.status == "active"))
        .where(Grid.community_id == community.id).group_by(Grid.id).order_by(Grid.code)
    ).all()
    return [GridRegistry(grid, n, coded) for grid, n, coded in rows]


SHEET_SIZE = 50  # codes per printed sheet: each is hashed slowly (scrypt), so a sheet takes a few seconds


def issue_grid_codes(session, user, community, grid_code: str, resident_id: int | None = None,
                     limit: int = SHEET_SIZE) -> tuple[object, list[CodeSlip]]:
    """Issue new personal voting codes in a grid, log it, and return the plain codes for the one
    printed sheet: to the next `limit` active residents who have no code yet (by address), or to one
    resident (who lost the slip: the earlier code stops working).

    :raises Forbidden: unless staff of the community.
    :raises NotFound: `unknown_grid` for a grid not of this community; `unknown_resident` for a
        resident not active in that grid.
    """
    from sqlalchemy import select

    from ..audit.services import log_action
    from ..ballots.services import issue_voting_code  # here: ballots import the registry's models
    from ..cycles.services import require_staff_of
    from ..errors import NotFound
    from ..geography.models import Grid
    from .models import Resident

    require_staff_of(user, community.id)
    grid = session.scalar(select(Grid).where(Grid.community_id == community.id, Grid.code == grid_code))
    if grid is None:
        raise NotFound(_("There is no grid '%(grid)s' in this community.", grid=grid_code), "unknown_grid")
    stmt = select(Resident).where(Resident.grid_id == grid.id, Resident.status == "active")
    if resident_id is None:
        stmt = stmt.where(Resident.voting_code_hash.is_(None)).limit(limit)
    else:
        stmt = stmt.where(Resident.id == resident_id)
    residents = sorted(session.scalars(stmt.order_by(Resident.id)), key=address_order)
    if resident_id is not None and not residents:
        raise NotFound(_("There is no such resident in this grid."), "unknown_resident")
    slips = [CodeSlip(r, issue_voting_code(session, r)) for r in residents]
    log_action(session, user, "residents.voting_codes", community, grid=grid.code, issued=len(slips),
               **({"resident": resident_id} if resident_id is not None else {}))
    return grid, slips


def find_grid_residents(session, community, grid_code: str, search: str) -> list:
    """Active residents of one of the community's grids whose name or address contains `search`."""
    from sqlalchemy import select

    from ..geography.models import Grid
    from .models import Resident

    like = f"%{search.strip()}%"
    return list(session.scalars(
        select(Resident).join(Grid, Grid.id == Resident.grid_id)
        .where(Grid.community_id == community.id, Grid.code == grid_code, Resident.status == "active",
               Resident.name.like(like) | Resident.address.like(like))
        .order_by(Resident.address, Resident.name, Resident.id).limit(50)
    ))
