"""A community-year's fund: allocated to projects, committed, spent, and what remains free.

Committed money is what a funded project may still be paid: its voted cost plus what the district
admin approved beyond it for that project, less what it was paid, until its acceptance settles the
account (then nothing). Spent and committed together are what the year has used; payments and
approvals are checked against it (`tracking.progress`), so the remaining money goes below zero only
as far as the district admin's approvals beyond the year's fund cover.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..cycles.models import Cycle
from ..enums import ProjectStatus
from ..errors import NotFound
from ..geography.models import Community
from ..proposals.models import Project
from .models import PROGRESS, FundApproval, ProjectEnding, SpendingEntry


@dataclass(frozen=True)
class ProjectMoney:
    project: Project
    spent_fen: int
    committed_fen: int
    approved_fen: int = 0      # approved beyond the voted cost, for this project

    @property
    def limit_fen(self) -> int:
        """What the project may be paid: its voted cost and what was approved beyond it."""
        return (self.project.cost_fen or 0) + self.approved_fen

    @property
    def used_fen(self) -> int:
        return self.spent_fen + self.committed_fen

    def used_after(self, paid_fen: int = 0, approved_fen: int = 0) -> int:
        """Spent and committed after a further payment and approval (once accepted: no commitment)."""
        spent = self.spent_fen + paid_fen
        if self.project.status == ProjectStatus.ACCEPTED:
            return spent
        return max(self.limit_fen + approved_fen, spent)


@dataclass(frozen=True)
class Ledger:
    """A community-year's fund: allocated to projects, committed (allocated, not yet paid, until
    acceptance settles the account), spent, and what remains free."""

    cycle: Cycle
    projects: list[ProjectMoney]
    entries: list[SpendingEntry]
    approvals: list[FundApproval]

    @property
    def fund_fen(self) -> int:
        return self.cycle.fund_fen

    @property
    def approved_fen(self) -> int:
        """Approved beyond the year's fund (approvals for one project are the project's)."""
        return sum(a.amount_fen for a in self.approvals if a.project_id is None)

    @property
    def used_fen(self) -> int:
        """Spent and committed."""
        return self.spent_fen + self.committed_fen

    def money_of(self, project_id: int) -> ProjectMoney | None:
        return next((m for m in self.projects if m.project.id == project_id), None)

    @property
    def allocated_fen(self) -> int:
        return sum(p.project.cost_fen or 0 for p in self.projects)

    @property
    def spent_fen(self) -> int:
        return sum(p.spent_fen for p in self.projects)

    @property
    def committed_fen(self) -> int:
        return sum(p.committed_fen for p in self.projects)

    @property
    def remaining_fen(self) -> int:
        """Neither spent nor committed to a project."""
        return self.fund_fen - self.spent_fen - self.committed_fen

    @property
    def unspent_fen(self) -> int:
        """Still in the fund's account."""
        return self.fund_fen - self.spent_fen

    @property
    def limit_fen(self) -> int:
        return self.fund_fen + self.approved_fen

    def share(self, fen: int) -> float:
        """`fen` as a percentage of the larger of the fund and what was spent and committed (for bars)."""
        scale = max(self.fund_fen, self.spent_fen + self.committed_fen, 1)
        return round(100 * max(fen, 0) / scale, 2)


def get_ledger_cycle(session, community: Community, year: int) -> Cycle:
    """:raises NotFound: when the community has no cycle that year (any year, however large)."""
    cycle = None
    if 0 <= year <= 9999:  # a year in a path may pass the database's integers
        cycle = session.scalar(select(Cycle).where(Cycle.community_id == community.id, Cycle.year == year))
    if cycle is None:
        raise NotFound(_("%(community)s has no cycle in %(year)d.", community=community.name, year=year),
                       "unknown_cycle")
    return cycle


def ledger(session, cycle: Cycle) -> Ledger:
    projects = list(session.scalars(
        select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(PROGRESS)).order_by(Project.id)))
    entries = beside_reversals(session.scalars(
        select(SpendingEntry).join(Project).where(Project.cycle_id == cycle.id)
        .options(selectinload(SpendingEntry.project), selectinload(SpendingEntry.approval),
                 selectinload(SpendingEntry.reversal))))
    approvals = list(session.scalars(
        select(FundApproval).where(FundApproval.cycle_id == cycle.id)
        .options(selectinload(FundApproval.approved_by), selectinload(FundApproval.project))
        .order_by(FundApproval.id)))
    spent, approved = defaultdict(int), defaultdict(int)
    for entry in entries:
        spent[entry.project_id] += entry.amount_fen
    for approval in approvals:
        if approval.project_id is not None:
            approved[approval.project_id] += approval.amount_fen
    ended = set(session.scalars(select(ProjectEnding.project_id).join(Project).where(Project.cycle_id == cycle.id)))
    money = [  # an ended project commits nothing more (closing.py)
        ProjectMoney(p, spent[p.id], 0 if p.status == ProjectStatus.ACCEPTED or p.id in ended
                     else max((p.cost_fen or 0) + approved[p.id] - spent[p.id], 0), approved[p.id])
        for p in projects
    ]
    return Ledger(cycle, money, entries, approvals)


def beside_reversals(entries) -> list[SpendingEntry]:
    """The entries by date, each reversal right after the payment it cancels."""
    entries = list(entries)
    by_id = {e.id: e for e in entries}

    def place(entry: SpendingEntry) -> tuple:
        payment = by_id.get(entry.reverses_id, entry)
        return (payment.spent_on, payment.id, entry.reverses_id is not None)

    return sorted(entries, key=place)


def community_ledgers(session, community: Community) -> list[Ledger]:
    """Every cycle of the community that funded projects, newest first."""
    cycles = session.scalars(select(Cycle).where(Cycle.community_id == community.id).order_by(Cycle.year.desc()))
    return [led for led in (ledger(session, c) for c in cycles) if led.projects]


def cycle_spent(session, cycle_id: int) -> int:
    """What was paid out of the cycle's fund so far."""
    return session.scalar(
        select(func.coalesce(func.sum(SpendingEntry.amount_fen), 0)).join(Project)
        .where(Project.cycle_id == cycle_id)) or 0
