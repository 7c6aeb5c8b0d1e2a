"""What a signed-in person's own page shows: for a resident their community's vote and their part
in it, for staff and grid workers their community's work this year, for the auditor and the admin
the district. Reads only; each answer is the signed-in user's own (no other person's data)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from ..accounts.policy import is_resident_of, is_voter
from ..ballots.casting import CastingCycle, Voter
from ..ballots.models import Ballot
from ..ballots.services import current_ballot
from ..cycles.models import Cycle
from ..cycles.services import NEXT_PHASE
from ..enums import DONE, PROGRESS, Phase, ProjectStatus, Role
from ..geography.models import Community
from ..geography.services import district_overview
from ..proposals.models import Project
from ..proposals.services import my_proposals
from ..tracking.models import ProjectRating

# The phases in which ballots have been cast (and may still be): the receipt and paper batches matter.
VOTED_PHASES = (Phase.VOTING, Phase.RESULTS, Phase.IMPLEMENTATION, Phase.CLOSED)


@dataclass(frozen=True)
class CommunityYear:
    """A community and its latest cycle (this year's, or the last one), with its phase now."""

    community: Community
    cycle: Cycle | None
    phase: str | None

    @property
    def voting_open(self) -> bool:
        return self.phase == Phase.VOTING

    @property
    def has_ballots(self) -> bool:
        return self.phase in VOTED_PHASES and self.cycle is not None and self.cycle.voting_opens_at is not None


@dataclass(frozen=True)
class RateableProject:
    project: Project
    rated: bool


@dataclass(frozen=True)
class ResidentHome:
    kind = "resident"
    year: CommunityYear
    ballot: Ballot | None
    proposals: list[Project]
    to_rate: list[RateableProject]


@dataclass(frozen=True)
class StaffHome:
    kind = "staff"
    year: CommunityYear
    next_phase: str | None
    waiting_review: int
    tracked: list[Project]


@dataclass(frozen=True)
class WorkerHome:
    kind = "worker"
    year: CommunityYear
    grid_name: str


@dataclass(frozen=True)
class DistrictHome:
    kind = "district"
    role: str
    communities: int
    open_votes: list[CommunityYear] = field(default_factory=list)


def latest_year(session, community: Community, now: datetime) -> CommunityYear:
    """The community with its latest cycle and that cycle's phase at `now`."""
    cycle = session.scalar(select(Cycle).where(Cycle.community_id == community.id)
                           .order_by(Cycle.year.desc()).limit(1))
    return CommunityYear(community, cycle, cycle.current_phase(now) if cycle else None)


def my_ballot(session, user, cycle: Cycle | None) -> Ballot | None:
    """The signed-in resident's current ballot in `cycle` (for their own eyes), or None: for anyone
    but an enabled resident of the cycle's community, or before they voted."""
    if cycle is None or not is_resident_of(user, cycle.community_id) or not is_voter(user):
        return None
    return current_ballot(session, CastingCycle.read(session, cycle), Voter.of_account(user))


def rateable_projects(session, user) -> list[RateableProject]:
    """The completed projects of the resident's community, newest first, each with whether they
    have rated it already (a resident rates each once)."""
    if user.resident_id is None:
        return []
    projects = session.scalars(
        select(Project).join(Cycle, Project.cycle_id == Cycle.id)
        .where(Cycle.community_id == user.community_id, Project.status.in_(DONE))
        .order_by(Cycle.year.desc(), Project.id))
    rated = set(session.scalars(select(ProjectRating.project_id)
                                .where(ProjectRating.resident_id == user.resident_id)))
    return [RateableProject(p, p.id in rated) for p in projects]


def home_of(session, user, now: datetime):
    """The signed-in user's own page, by role: `ResidentHome`, `StaffHome`, `WorkerHome` or
    `DistrictHome` (the auditor and the district admin)."""
    if user.role in (Role.AUDITOR, Role.ADMIN):
        return _district(session, user, now)
    year = latest_year(session, user.community, now)
    if user.role == Role.RESIDENT:
        return ResidentHome(year, my_ballot(session, user, year.cycle), my_proposals(session, user),
                            rateable_projects(session, user))
    if user.role == Role.STAFF:
        return _staff(session, year, now)
    return WorkerHome(year, user.grid.name if user.grid else "")


def _staff(session, year: CommunityYear, now: datetime) -> StaffHome:
    cycle = year.cycle
    if cycle is None:
        return StaffHome(year, None, 0, [])
    scheduled = cycle.is_voting_scheduled(now)
    waiting = session.scalar(select(func.count(Project.id)).where(Project.cycle_id == cycle.id,
                                                                 Project.status == ProjectStatus.SUBMITTED))
    tracked = list(session.scalars(select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(PROGRESS))
                                   .order_by(Project.id)))
    return StaffHome(year, None if scheduled else NEXT_PHASE.get(year.phase), waiting or 0, tracked)


def _district(session, user, now: datetime) -> DistrictHome:
    overview = district_overview(session)
    summaries = [s for _sub, group in overview for s in group]
    open_votes = [CommunityYear(s.community, s.current_cycle, Phase.VOTING) for s in summaries
                  if s.current_cycle and s.current_cycle.is_voting_open(now)]
    return DistrictHome(user.role, len(summaries), open_votes)
