"""Reading the district: communities with their funds, cycles and completed projects."""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..accounts.policy import require_oversight, require_staff_of
from ..cycles.models import Cycle
from ..errors import NotFound
from ..proposals.models import Project
from .models import Community, SubDistrict

DONE_STATUSES = ("completed", "accepted")


@dataclass(frozen=True)
class CommunitySummary:
    community: Community
    current_cycle: Cycle | None
    completed_projects: int


def get_community(session, code: str) -> Community:
    """:raises NotFound: when no community has this code."""
    community = session.scalar(select(Community).where(Community.code == code))
    if community is None:
        raise NotFound(_("There is no community with code '%(code)s'.", code=code), "unknown_community")
    return community


def community_for_staff(session, user, code: str) -> Community:
    """The community, for its staff to act on.

    :raises NotFound: when no community has this code. :raises Forbidden: unless staff of it.
    """
    community = get_community(session, code)
    require_staff_of(user, community.id)
    return community


def community_to_oversee(session, user, code: str) -> Community:
    """The community, for its staff or the district admin to see in full.

    :raises NotFound: when no community has this code. :raises Forbidden: for anyone else.
    """
    community = get_community(session, code)
    require_oversight(user, community.id)
    return community


def list_communities(session) -> list[Community]:
    stmt = select(Community).join(SubDistrict).options(selectinload(Community.sub_district))
    return list(session.scalars(stmt.order_by(SubDistrict.code, Community.code)))


def district_overview(session) -> list[tuple[SubDistrict, list[CommunitySummary]]]:
    """Every sub-district with its communities, their latest cycle and completed-project count."""
    latest = {c.community_id: c for c in session.scalars(select(Cycle).order_by(Cycle.year))}
    done = dict(session.execute(
        select(Cycle.community_id, func.count(Project.id))
        .join(Project, Project.cycle_id == Cycle.id)
        .where(Project.status.in_(DONE_STATUSES))
        .group_by(Cycle.community_id)
    ).all())
    subs = session.scalars(
        select(SubDistrict).options(selectinload(SubDistrict.communities)).order_by(SubDistrict.code)
    )
    return [
        (sub, [CommunitySummary(c, latest.get(c.id), done.get(c.id, 0)) for c in sub.communities])
        for sub in subs
    ]


def community_cycles(session, community: Community) -> list[Cycle]:
    return list(session.scalars(select(Cycle).where(Cycle.community_id == community.id).order_by(Cycle.year)))
