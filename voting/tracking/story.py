"""The story of one funded project: its vote, timeline, photos, spending and rating."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..enums import ProjectStatus
from ..geography.models import Community
from ..proposals.models import Project, ProjectPhoto
from .ledger import beside_reversals
from .models import (
    PROGRESS, Acceptance, Milestone, MilestonePhoto, ProgressChange, ProjectRating, SpendingEntry,
)
from .progress import funded_on, local_date


@dataclass(frozen=True)
class Event:
    day: date
    kind: str            # funded, started, milestone, completed, accepted
    text: str = ""
    photos: tuple = ()


@dataclass(frozen=True)
class RatingSummary:
    count: int
    average: float | None
    histogram: dict[int, int]
    comments: list[ProjectRating]


@dataclass(frozen=True)
class ProjectStory:
    project: Project
    community: Community
    rank: int | None              # by votes among its cycle's ballot
    on_ballot: int
    events: list[Event]
    photos: list[MilestonePhoto]  # oldest first
    proposal_photos: list         # the proposal's own photos (served by the proposals feature)
    spending: list[SpendingEntry]
    spent_fen: int
    acceptance: Acceptance | None
    rating: RatingSummary


def project_story(session, project: Project) -> ProjectStory:
    """Everything the project page shows: vote result, timeline, photos, spending, rating."""
    cycle = project.cycle
    ballot = session.execute(
        select(Project.id, Project.votes).where(
            Project.cycle_id == cycle.id, Project.status.in_((ProjectStatus.ON_BALLOT, ProjectStatus.NOT_FUNDED) + PROGRESS))
    ).all()
    ranked = sorted(ballot, key=lambda row: -(row.votes or 0))
    rank = next((i for i, row in enumerate(ranked, start=1) if row.id == project.id), None)
    milestones = list(session.scalars(
        select(Milestone).where(Milestone.project_id == project.id).options(selectinload(Milestone.photos))
        .order_by(Milestone.happened_on, Milestone.id)
    ))
    changes = {c.to_status: c for c in session.scalars(
        select(ProgressChange).where(ProgressChange.project_id == project.id))}
    acceptance = session.scalar(select(Acceptance).where(Acceptance.project_id == project.id))
    events = [Event(funded_on(project), "funded")]
    if "in_progress" in changes:
        events.append(Event(local_date(changes["in_progress"].changed_at), "started"))
    events += [Event(m.happened_on, "milestone", m.text, tuple(m.photos)) for m in milestones]
    if project.completed_at:
        events.append(Event(local_date(project.completed_at), "completed"))
    if acceptance:
        events.append(Event(acceptance.accepted_on, "accepted", acceptance.remarks))
    elif project.accepted_at:
        events.append(Event(local_date(project.accepted_at), "accepted"))
    order = {"funded": 0, "started": 1, "milestone": 2, "completed": 3, "accepted": 4}
    events.sort(key=lambda e: (e.day, order[e.kind]))
    spending = beside_reversals(session.scalars(
        select(SpendingEntry).where(SpendingEntry.project_id == project.id)
        .options(selectinload(SpendingEntry.reversal), selectinload(SpendingEntry.approval))))
    return ProjectStory(
        project=project, community=cycle.community, rank=rank, on_ballot=len(ballot), events=events,
        photos=[p for m in milestones for p in m.photos], spending=spending,
        proposal_photos=list(session.scalars(
            select(ProjectPhoto).where(ProjectPhoto.project_id == project.id).order_by(ProjectPhoto.id))),
        spent_fen=sum(e.amount_fen for e in spending), acceptance=acceptance,
        rating=rating_summary(session, project),
    )


def rating_summary(session, project: Project) -> RatingSummary:
    ratings = list(session.scalars(
        select(ProjectRating).where(ProjectRating.project_id == project.id).order_by(ProjectRating.id.desc())))
    histogram = {score: 0 for score in range(5, 0, -1)}
    for r in ratings:
        histogram[r.score] += 1
    average = round(sum(r.score for r in ratings) / len(ratings), 1) if ratings else None
    return RatingSummary(len(ratings), average, histogram, [r for r in ratings if r.comment])
