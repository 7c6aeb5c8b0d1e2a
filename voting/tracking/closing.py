"""Closing the year honestly: before a cycle is archived, each funded project not accepted is carried
over into the community's next cycle (multi-year work, shown in that year's ledger) or ended with a
public reason; and the money left over (结余) of each community-year.

结余 (left over) of a community-year = its fund − what was paid for its projects (wherever their work
went on) − the money still committed to its carried-over projects (for each one neither accepted nor
ended: its voted cost less what was paid for it, never below zero). It is known once the cycle is
closed; until then the ledger's "remaining" says what the year may still spend.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.policy import require_manager
from ..audit.services import log_action
from ..cycles.models import Cycle
from ..database import utcnow
from ..enums import Phase, ProjectStatus
from ..errors import Conflict
from ..proposals.models import Project
from ..validation import text_value
from .models import CarryOver, ProjectEnding, SpendingEntry

# Funded and not accepted: what must be carried over or ended before its cycle is archived.
UNFINISHED = (ProjectStatus.FUNDED, ProjectStatus.IN_PROGRESS, ProjectStatus.COMPLETED)
MAX_REASON = 500
NAMES_SHOWN = 10


@dataclass(frozen=True)
class ProjectClosing:
    """What the end of its year did to a project: where it was carried, whether it was ended."""

    carries: tuple[CarryOver, ...]   # oldest first
    ending: ProjectEnding | None

    @property
    def carried_into(self) -> Cycle | None:
        return self.carries[-1].into_cycle if self.carries else None


def project_closing(session, project: Project) -> ProjectClosing:
    carries = tuple(session.scalars(select(CarryOver).where(CarryOver.project_id == project.id)
                                    .order_by(CarryOver.id)))
    ending = session.scalar(select(ProjectEnding).where(ProjectEnding.project_id == project.id))
    return ProjectClosing(carries, ending)


def closings(session, project_ids) -> dict[int, ProjectClosing]:
    """`project_closing` for many projects (only those with a carry or an ending are in the answer)."""
    ids = list(project_ids)
    carries, endings = defaultdict(list), {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for carry in session.scalars(select(CarryOver).where(CarryOver.project_id.in_(chunk)).order_by(CarryOver.id)):
            carries[carry.project_id].append(carry)
        for ending in session.scalars(select(ProjectEnding).where(ProjectEnding.project_id.in_(chunk))):
            endings[ending.project_id] = ending
    return {pid: ProjectClosing(tuple(carries.get(pid, ())), endings.get(pid)) for pid in set(carries) | set(endings)}


def holding_cycle(session, project: Project) -> Cycle:
    """The cycle the project's work is in now: the last it was carried into, or its own."""
    return project_closing(session, project).carried_into or project.cycle


def is_ended(session, project: Project) -> bool:
    return session.scalar(select(ProjectEnding.id).where(ProjectEnding.project_id == project.id)) is not None


def next_cycle(session, cycle: Cycle) -> Cycle | None:
    """The community's next cycle after `cycle` (the one a project is carried into), if opened."""
    return session.scalar(select(Cycle).where(Cycle.community_id == cycle.community_id, Cycle.year > cycle.year)
                          .order_by(Cycle.year).limit(1))


def open_projects(session, cycle: Cycle) -> list[Project]:
    """The funded projects whose work is in `cycle` and that are neither accepted nor ended: its own not
    carried elsewhere, and those carried into it and not carried on."""
    ended = select(ProjectEnding.project_id)
    own = select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(UNFINISHED), Project.id.not_in(ended))
    carried = select(Project).join(CarryOver, CarryOver.project_id == Project.id).where(
        CarryOver.into_cycle_id == cycle.id, Project.status.in_(UNFINISHED), Project.id.not_in(ended))
    candidates = {p.id: p for p in [*session.scalars(own), *session.scalars(carried)]}
    held = closings(session, candidates)
    return sorted((p for pid, p in candidates.items()
                   if (held[pid].carried_into.id if pid in held and held[pid].carried_into else p.cycle_id) == cycle.id),
                  key=lambda p: p.id)


def require_year_settled(session, cycle: Cycle) -> None:
    """:raises Conflict: `projects_open` naming each project still to carry over or end."""
    waiting = open_projects(session, cycle)
    if waiting:
        names = "、".join(f"#{p.id} {p.title}" for p in waiting[:NAMES_SHOWN])
        more = len(waiting) - NAMES_SHOWN
        if more > 0:
            names += _(" and %(n)d more", n=more)
        raise Conflict(
            _("The %(year)d cycle cannot be archived yet: carry over or end (with a public reason) each project "
              "not accepted: %(names)s.", year=cycle.year, names=names), "projects_open")


def _require_unfinished(session, project: Project) -> Cycle:
    """The cycle holding the project.

    :raises Conflict: `already_accepted`, `project_ended`, or `cycle_closed` when its cycle is archived.
    """
    if project.status == ProjectStatus.ACCEPTED:
        raise Conflict(_("This project is accepted: its year's account is settled."), "already_accepted")
    if is_ended(session, project):
        raise Conflict(_("This project has already been ended."), "project_ended")
    holder = holding_cycle(session, project)
    if holder.phase == Phase.CLOSED:
        raise Conflict(_("The %(year)d cycle is closed; its records are archived and no longer change.",
                         year=holder.year), "cycle_closed")
    return holder


def carry_over(session, user, project: Project, now: datetime | None = None) -> CarryOver:
    """Carry the unaccepted project into the community's next cycle: its work goes on there, its money
    stays committed out of its own year's fund (logged).

    :raises Forbidden: unless staff of the community.
    :raises Conflict: `already_accepted`, `project_ended`, `cycle_closed`; `no_next_cycle` until the
        community's next cycle is opened; `already_carried` when it is already there.
    """
    require_manager(user, project)
    session.refresh(project, with_for_update=True)
    holder = _require_unfinished(session, project)
    target = next_cycle(session, holder)
    if target is None:
        raise Conflict(_("Open the community's %(year)d cycle first: the project is carried into it.",
                         year=holder.year + 1), "no_next_cycle")
    carry = CarryOver(project_id=project.id, from_cycle_id=holder.id, into_cycle_id=target.id,
                      carried_by_id=user.id, carried_at=now or utcnow())
    try:
        with session.begin_nested():
            session.add(carry)
            session.flush()
    except IntegrityError:
        raise Conflict(_("This project is already carried into the %(year)d cycle.", year=target.year),
                       "already_carried") from None
    spent = _spent_on(session, project.id)
    log_action(session, user, "tracking.carry_over", project.cycle.community, project=project.id,
               from_year=holder.year, into_year=target.year, remaining_fen=max((project.cost_fen or 0) - spent, 0))
    return carry


def end_project(session, user, project: Project, reason, now: datetime | None = None) -> ProjectEnding:
    """End the unaccepted project with a public reason: what was paid stays paid, the rest of its cost is
    no longer committed (logged).

    :raises Forbidden: unless staff of the community.
    :raises InvalidField: `missing_reason`, `too_long`, `not_text`.
    :raises Conflict: `already_accepted`, `project_ended`, `cycle_closed`.
    """
    require_manager(user, project)
    reason = text_value(reason, "reason", _("The reason"), max_length=MAX_REASON, required=True)
    session.refresh(project, with_for_update=True)
    holder = _require_unfinished(session, project)
    ending = ProjectEnding(project_id=project.id, cycle_id=holder.id, reason=reason, ended_by_id=user.id,
                           ended_at=now or utcnow())
    try:
        with session.begin_nested():
            session.add(ending)
            session.flush()
    except IntegrityError:
        raise Conflict(_("This project has already been ended."), "project_ended") from None
    log_action(session, user, "tracking.end", project.cycle.community, project=project.id, year=holder.year,
               status=project.status, reason=reason)
    return ending


def _spent_on(session, project_id: int) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(SpendingEntry.amount_fen), 0))
                              .where(SpendingEntry.project_id == project_id)) or 0)


# --- The money left over (结余) ---------------------------------------------------------------------

@dataclass(frozen=True)
class LeftOver:
    """A community-year's 结余: fund − spent − still committed to its carried-over projects."""

    cycle: Cycle
    fund_fen: int
    spent_fen: int
    carried_fen: int      # still committed to its carried-over projects

    @property
    def left_over_fen(self) -> int:
        return self.fund_fen - self.spent_fen - self.carried_fen

    @property
    def is_final(self) -> bool:
        """Whether the year is closed (before that the money left over is not known)."""
        return self.cycle.phase == Phase.CLOSED


def left_over(session, cycles) -> dict[int, LeftOver]:
    """The money left over of each cycle, by cycle id (a few queries for any number of cycles)."""
    cycles = list(cycles)
    ids = [c.id for c in cycles]
    spent, committed = defaultdict(int), defaultdict(int)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for cycle_id, total in session.execute(
                select(Project.cycle_id, func.sum(SpendingEntry.amount_fen))
                .join(Project, SpendingEntry.project_id == Project.id)
                .where(Project.cycle_id.in_(chunk)).group_by(Project.cycle_id)):
            spent[cycle_id] = int(total or 0)
        paid = (select(SpendingEntry.project_id, func.sum(SpendingEntry.amount_fen).label("paid"))
                .group_by(SpendingEntry.project_id).subquery())
        for cycle_id, cost, paid_fen in session.execute(
                select(Project.cycle_id, Project.cost_fen, func.coalesce(paid.c.paid, 0))
                .outerjoin(paid, paid.c.project_id == Project.id)
                .where(Project.cycle_id.in_(chunk), Project.status.in_(UNFINISHED),
                       Project.id.not_in(select(ProjectEnding.project_id)))):
            committed[cycle_id] += max((cost or 0) - int(paid_fen or 0), 0)
    return {c.id: LeftOver(c, c.fund_fen, spent[c.id], committed[c.id]) for c in cycles}


@dataclass(frozen=True)
class CarriedIn:
    """A project of an earlier year carried into this one, with the money it still has."""

    project: Project
    carry: CarryOver
    spent_fen: int
    ending: ProjectEnding | None

    @property
    def remaining_fen(self) -> int:
        """Its voted cost less what was paid (from its own year's fund); nothing once accepted or ended."""
        if self.ending is not None or self.project.status == ProjectStatus.ACCEPTED:
            return 0
        return max((self.project.cost_fen or 0) - self.spent_fen, 0)


def carried_in(session, cycle: Cycle) -> list[CarriedIn]:
    """The projects carried into `cycle` from earlier years, oldest year first."""
    rows = session.execute(
        select(Project, CarryOver).join(CarryOver, CarryOver.project_id == Project.id)
        .where(CarryOver.into_cycle_id == cycle.id).order_by(CarryOver.from_cycle_id, Project.id)).all()
    endings = {e.project_id: e for e in session.scalars(
        select(ProjectEnding).where(ProjectEnding.project_id.in_([p.id for p, _c in rows])))} if rows else {}
    return [CarriedIn(p, c, _spent_on(session, p.id), endings.get(p.id)) for p, c in rows]
