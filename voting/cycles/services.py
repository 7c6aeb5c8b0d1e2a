"""Reading and running a community's yearly cycle."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..errors import NotFound
from ..proposals.models import BALLOT_STATUSES, Project
from .models import Cycle


def get_cycle(session, cycle_id: int) -> Cycle:
    """:raises NotFound: when there is no such cycle."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(_("There is no cycle %(id)s.", id=cycle_id), "unknown_cycle")
    return cycle


def ballot_projects(session, cycle: Cycle) -> list[Project]:
    """The projects on the cycle's ballot (and, after the vote, what became of them)."""
    return list(session.scalars(
        select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(BALLOT_STATUSES)).order_by(Project.id)
    ))
