"""The district at a glance: completed projects per year and category, fund use per community,
turnout per cycle (the public dashboard)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .ballots.models import RollEntry
from .cycles.models import Cycle
from .geography.models import Community
from .proposals.models import Project
from .residents.models import Resident
from .tracking.closing import left_over
from .tracking.models import DONE, PROGRESS, SpendingEntry


@dataclass(frozen=True)
class FundUse:
    community: Community
    fund_fen: int
    allocated_fen: int
    spent_fen: int
    left_over_fen: int = 0   # 结余 of its closed years (tracking/closing.py)

    @property
    def percent(self) -> float:
        return round(100 * self.spent_fen / self.fund_fen, 1) if self.fund_fen else 0.0


@dataclass(frozen=True)
class Turnout:
    cycle: Cycle
    voted: int
    residents: int

    @property
    def percent(self) -> float:
        return round(100 * self.voted / self.residents, 1) if self.residents else 0.0


@dataclass(frozen=True)
class Dashboard:
    per_year: list[tuple[int, int]]
    per_category: list[tuple[str, int]]
    fund_use: list[FundUse]
    fund_year: int | None
    fund_years: list[int]
    turnout: list[Turnout]
    spent_fen: int
    left_over_fen: int = 0       # 结余 of the closed cycles counted in fund use
    closed_cycles: int = 0

    @property
    def completed(self) -> int:
        return sum(n for _year, n in self.per_year)


def dashboard(session, fund_year: int | None = None) -> Dashboard:
    """Completed projects per year and category, fund use per community, turnout per cycle."""
    done = (select(Cycle.year, Project.category).join(Project, Project.cycle_id == Cycle.id)
            .where(Project.status.in_(DONE)).subquery())
    per_year = [tuple(r) for r in session.execute(
        select(done.c.year, func.count()).group_by(done.c.year).order_by(done.c.year)).all()]
    per_category = sorted((tuple(r) for r in session.execute(
        select(done.c.category, func.count()).group_by(done.c.category)).all()), key=lambda r: (-r[1], r[0]))

    funded_cycles = select(Cycle).where(Cycle.id.in_(
        select(Project.cycle_id).where(Project.status.in_(PROGRESS))))
    fund_years = sorted({c.year for c in session.scalars(funded_cycles)}, reverse=True)
    if fund_year is not None:
        funded_cycles = funded_cycles.where(Cycle.year == fund_year)
    cycles = list(session.scalars(funded_cycles))
    ids = [c.id for c in cycles]
    allocated = defaultdict(int)
    spent = defaultdict(int)
    if ids:
        for cycle_id, total in session.execute(
                select(Project.cycle_id, func.sum(Project.cost_fen))
                .where(Project.cycle_id.in_(ids), Project.status.in_(PROGRESS)).group_by(Project.cycle_id)):
            allocated[cycle_id] = int(total or 0)
        for cycle_id, total in session.execute(
                select(Project.cycle_id, func.sum(SpendingEntry.amount_fen)).join(Project)
                .where(Project.cycle_id.in_(ids)).group_by(Project.cycle_id)):
            spent[cycle_id] = int(total or 0)
    money = left_over(session, [c for c in cycles if c.phase == "closed"])
    per_community: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for c in cycles:
        row = per_community[c.community_id]
        row[0] += c.fund_fen
        row[1] += allocated[c.id]
        row[2] += spent[c.id]
        row[3] += money[c.id].left_over_fen if c.id in money else 0
    communities = {c.id: c for c in session.scalars(
        select(Community).options(selectinload(Community.sub_district)).order_by(Community.code))}
    fund_use = [FundUse(communities[cid], *per_community[cid]) for cid in sorted(
        per_community, key=lambda cid: communities[cid].code)]

    voted = session.execute(
        select(RollEntry.cycle_id, func.count(RollEntry.id).filter(RollEntry.has_voted))
        .group_by(RollEntry.cycle_id)).all()
    turnout = []
    if voted:
        roll_cycles = {c.id: c for c in session.scalars(
            select(Cycle).where(Cycle.id.in_([cid for cid, _n in voted]))
            .options(selectinload(Cycle.community)))}
        active = dict(session.execute(
            select(Resident.community_id, func.count()).where(Resident.status == "active")
            .group_by(Resident.community_id)).all())
        turnout = sorted(
            (Turnout(roll_cycles[cid], n or 0, active.get(roll_cycles[cid].community_id, 0)) for cid, n in voted),
            key=lambda t: (-t.cycle.year, t.cycle.community.code))
    spent_total = session.scalar(select(func.coalesce(func.sum(SpendingEntry.amount_fen), 0))) or 0
    return Dashboard(per_year, per_category, fund_use, fund_year, fund_years, turnout, int(spent_total),
                     sum(m.left_over_fen for m in money.values()), len(money))
