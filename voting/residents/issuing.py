"""Personal voting codes: one resident's (`issue_voting_code`), one printed sheet of a grid's (the codes
page), or a whole community's or grid's at once (`voting issue-codes`, for a print shop or a mail merge)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ..accounts.policy import require_staff_of
from ..audit.services import log_action
from ..ballots.codes import new_voting_code, normalise_voting_code, voting_code_tag
from ..config import secret_keys
from ..errors import NotFound
from ..geography.models import Grid
from .models import Resident
from .services import address_order


@dataclass(frozen=True)
class CodeSlip:
    resident: object
    code: str  # plain text: exists only on this sheet


def issue_voting_code(session, resident: Resident) -> str:
    """Give the resident a new personal voting code (any earlier one stops working).

    Returns the code in plain text, the only time it exists outside the resident's hands: only
    its hash is stored.
    """
    code = new_voting_code()
    digits = normalise_voting_code(code)
    resident.voting_code_hash = generate_password_hash(digits)
    resident.voting_code_tag = voting_code_tag(secret_keys(current_app.config)[0], digits)
    resident.used_code_hash = None  # the code that activated the account no longer answers at all
    session.flush()
    return code


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


def issue_codes(session, actor, community, grid_code: str | None = None, only_new: bool = False,
                progress=None) -> list[CodeSlip]:
    """Issue new personal voting codes to the community's active residents (of one grid; only those
    without a code yet), log it, and return the plain codes, by grid and address. A resident's
    earlier code stops working. `progress(n)` is told after each code (each takes a slow hash).

    :raises NotFound: unknown_grid for a grid not of this community.
    """
    grids = {grid.id: grid for grid in session.scalars(select(Grid).where(Grid.community_id == community.id))}
    stmt = select(Resident).where(Resident.community_id == community.id, Resident.status == "active")
    if grid_code is not None:
        grid = next((g for g in grids.values() if g.code == grid_code), None)
        if grid is None:
            raise NotFound(_("There is no grid '%(grid)s' in this community.", grid=grid_code), "unknown_grid")
        stmt = stmt.where(Resident.grid_id == grid.id)
    if only_new:
        stmt = stmt.where(Resident.voting_code_hash.is_(None))
    residents = sorted(session.scalars(stmt), key=lambda r: (grids[r.grid_id].code, address_order(r)))
    slips = []
    for resident in residents:
        slips.append(CodeSlip(resident, issue_voting_code(session, resident)))
        if progress:
            progress(1)
    log_action(session, actor, "residents.issue_codes", community, issued=len(slips),
               **({"grid": grid_code} if grid_code is not None else {}), **({"only_new": True} if only_new else {}))
    return slips
