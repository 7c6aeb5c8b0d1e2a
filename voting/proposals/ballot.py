"""The projects on a cycle's ballot: a query on projects alone, for the vote, the count and the record."""
from __future__ import annotations

from sqlalchemy import select

from ..cycles.models import Cycle
from .models import BALLOT_STATUSES, Project


def ballot_projects(session, cycle: Cycle) -> list[Project]:
    """The projects on the cycle's ballot (and, after the vote, what became of them)."""
    return list(session.scalars(
        select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(BALLOT_STATUSES)).order_by(Project.id)
    ))
