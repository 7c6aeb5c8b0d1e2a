"""Turnout per grid and the door-to-door list. Both read only the voter roll (`RollEntry`: that a
resident voted), never a ballot; every view is written to the action log."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import and_, func, select

from ..accounts.policy import require_door_list, require_oversight
from ..audit.services import log_action
from ..ballots.models import RollEntry
from ..cycles.models import Cycle
from ..cycles.electorate import in_electorate
from ..errors import Conflict
from ..geography.models import Grid
from ..residents.models import Resident
from ..residents.services import address_order

BEFORE_VOTING = ("collection", "review")


@dataclass(frozen=True)
class GridTurnout:
    grid: Grid
    eligible: int
    voted: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.voted / self.eligible, 1) if self.eligible else None


@dataclass(frozen=True)
class DoorList:
    grid: Grid
    eligible: int
    voted: int
    residents: list[Resident]  # active residents of the grid who have not voted, by address


def _voted(cycle: Cycle):
    """Residents of the cycle's roll who have voted (the roll says that, not how)."""
    return select(RollEntry.resident_id).where(RollEntry.cycle_id == cycle.id, RollEntry.has_voted)


def grid_turnout(session, user, cycle: Cycle, now: datetime) -> list[GridTurnout]:
    """How many active residents of each grid of the cycle's community have voted (logged).

    :raises Forbidden: unless staff of the community or the district admin.
    :raises Conflict: `voting_not_open` before voting has opened.
    """
    require_oversight(user, cycle.community_id)
    if cycle.current_phase(now) in BEFORE_VOTING:
        raise Conflict(_("Voting has not opened yet: there is no turnout to show."), "voting_not_open")
    voted = _voted(cycle).subquery()
    rows = session.execute(
        select(Grid, func.count(Resident.id), func.count(voted.c.resident_id)).select_from(Grid)
        .outerjoin(Resident, and_(Resident.grid_id == Grid.id, in_electorate(cycle)))
        .outerjoin(voted, voted.c.resident_id == Resident.id)
        .where(Grid.community_id == cycle.community_id)
        .group_by(Grid.id).order_by(Grid.code)
    ).all()
    log_action(session, user, "mobilise.view_turnout", cycle.community, cycle=cycle.id)
    return [GridTurnout(grid, eligible, n) for grid, eligible, n in rows]


def doors_to_knock(session, worker, cycle: Cycle, now: datetime) -> DoorList:
    """The residents of the worker's own grid in the vote's electorate who have not voted yet, by
    address (logged).

    :raises Forbidden: unless a grid worker of the cycle's community.
    :raises Conflict: `voting_closed` unless voting is open now.
    """
    require_door_list(worker, cycle.community_id)
    if not cycle.is_voting_open(now):
        raise Conflict(_("Voting is not open: the door-to-door list is only there while residents can vote."),
                       "voting_closed")
    grid = session.get(Grid, worker.grid_id)
    active = select(Resident).where(Resident.grid_id == grid.id, in_electorate(cycle))
    eligible = session.scalar(select(func.count()).select_from(active.subquery()))
    residents = sorted(session.scalars(active.where(Resident.id.not_in(_voted(cycle)))), key=address_order)
    log_action(session, worker, "mobilise.view_doors", cycle.community, cycle=cycle.id, grid=grid.code,
               listed=len(residents))
    return DoorList(grid, eligible or 0, (eligible or 0) - len(residents), residents)
