"""Personal voting codes for a whole community or grid at once (`voting issue-codes`): for a print
shop or a mail merge, where the codes page prints one grid's sheet at a time."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..audit.services import log_action
from ..errors import NotFound
from ..geography.models import Grid
from .models import Resident
from .services import CodeSlip, address_order


def issue_codes(session, actor, community, grid_code: str | None = None, only_new: bool = False,
                progress=None) -> list[CodeSlip]:
    """Issue new personal voting codes to the community's active residents (of one grid; only those
    without a code yet), log it, and return the plain codes, by grid and address. A resident's
    earlier code stops working. `progress(n)` is told after each code (each takes a slow hash).

    :raises NotFound: unknown_grid for a grid not of this community.
    """
    from ..ballots.services import issue_voting_code  # here: ballots import the registry's models

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
