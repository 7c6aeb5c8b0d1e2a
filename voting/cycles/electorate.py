"""Who may vote in a cycle: the electorate fixed when voting opens, from the registry's history.

The rule once in SQL (`in_electorate`, for counting and lists) and once for one resident
(`facts_at_opening` and `is_of_age`, for a cast). It reads the registry and the cycle, nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from ..database import utcnow
from ..residents.models import Resident, ResidentHistory
from ..residents.services import local_day
from .models import Cycle, VotingWindow


def opening_day(window: VotingWindow) -> date:
    """The day (in Beijing) the vote opens, or today before it has a window: the day of the age rule."""
    return local_day(window.voting_opens_at or utcnow())


def in_electorate(cycle: Cycle | VotingWindow, community_id: int | None = None):
    """The SQL condition on `Resident` for the cycle's electorate, fixed when voting opens: who was
    an active resident of its community then (by the registry's facts at that moment: the row, or
    the `ResidentHistory` version that held then, so a move, a death, a new address or a new
    community registered while the vote is open changes nothing), aged 18 or over on the opening
    day. Later ones vote from the next cycle. `facts_at_opening` is the same rule for one resident
    (`ballots.services.eligible_resident`)."""
    window = cycle.window if isinstance(cycle, Cycle) else cycle
    community_id = cycle.community_id if isinstance(cycle, Cycle) else community_id
    of_age = Resident.adult_on.is_(None) | (Resident.adult_on <= opening_day(window))
    now_facts = (Resident.community_id == community_id) & (Resident.status == "active")
    opens = window.voting_opens_at
    if opens is None:
        return now_facts & of_age
    held = (select(ResidentHistory.id).where(
        ResidentHistory.resident_id == Resident.id, ResidentHistory.community_id == community_id,
        ResidentHistory.status == "active", ResidentHistory.valid_from <= opens, ResidentHistory.valid_until > opens)
        .correlate(Resident).exists())
    return ((Resident.facts_since <= opens) & now_facts | (Resident.facts_since > opens) & held) & of_age


@dataclass(frozen=True)
class Facts:
    """A resident's electorate facts at a moment."""

    community_id: int
    status: str
    household: str


def facts_at_opening(session, resident, window: VotingWindow) -> Facts | None:
    """The resident's facts when the vote opened (now, before it has opened): the row as it is,
    unless it changed since; then the history's version of that moment, or None when the resident
    was not registered yet. Reads nothing unless they changed."""
    opens = window.voting_opens_at
    if opens is None or resident.facts_since <= opens:
        return Facts(resident.community_id, resident.status, resident.household)
    row = session.execute(select(ResidentHistory.community_id, ResidentHistory.status, ResidentHistory.household)
                          .where(ResidentHistory.resident_id == resident.id, ResidentHistory.valid_from <= opens,
                                 ResidentHistory.valid_until > opens)).first()
    return Facts(*row) if row else None


def is_of_age(resident, window: VotingWindow) -> bool:
    """Whether the resident is 18 or over on the day the vote opens."""
    return resident.adult_on is None or resident.adult_on <= opening_day(window)


def household_at_opening(cycle: Cycle):
    """The SQL expression of a `Resident`'s household when the cycle's vote opened."""
    opens = cycle.voting_opens_at
    if opens is None:
        return Resident.household
    past = (select(ResidentHistory.household).where(
        ResidentHistory.resident_id == Resident.id, ResidentHistory.valid_from <= opens,
        ResidentHistory.valid_until > opens).correlate(Resident).limit(1).scalar_subquery())
    return case((Resident.facts_since <= opens, Resident.household), else_=past)


def electorate_size(session, cycle: Cycle) -> int:
    """How many may vote: the residents of the electorate, or their households (`voters` households)."""
    counted = (func.count(func.distinct(household_at_opening(cycle))) if cycle.voters == "households"
               else func.count(Resident.id))
    return session.scalar(select(counted).select_from(Resident).where(in_electorate(cycle))) or 0


def added_after_opening(session, cycle: Cycle) -> int:
    """How many active residents of the community joined its registry after voting opened (they are
    not in this vote's electorate; zero is normal)."""
    if cycle.voting_opens_at is None:
        return 0
    return session.scalar(select(func.count()).select_from(Resident).where(
        Resident.community_id == cycle.community_id, Resident.status == "active",
        Resident.facts_since > cycle.voting_opens_at, ~in_electorate(cycle))) or 0
