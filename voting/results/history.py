"""A community's years, newest first, with what each has to show: its result (counted here, or
recorded from the archive for a year voted before online voting), its public notice, its board of
receipts and its ledger. Every past year stays one tap from the community page."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ..ballots.models import BallotChain
from ..cycles.models import Cycle
from ..enums import PROGRESS
from ..proposals.models import Project
from .services import AFTER_VOTING, counted_offline_clause


@dataclass(frozen=True)
class HistoryYear:
    """One cycle of the community and the pages it has."""

    cycle: Cycle
    phase: str
    funded: int  # projects funded that year (the ledger follows their money)
    has_results: bool  # voting has closed: counted here, or recorded
    recorded: bool  # voted and counted before online voting: no notice or receipts here
    has_receipts: bool  # ballots were recorded in this system

    @property
    def has_notice(self) -> bool:
        return self.has_results and not self.recorded

    @property
    def has_ledger(self) -> bool:
        return self.funded > 0


def community_history(session, community, now: datetime) -> list[HistoryYear]:
    """Every cycle of the community, newest first, with the links it has (one statement)."""
    funded = (select(func.count(Project.id)).where(Project.cycle_id == Cycle.id, Project.status.in_(PROGRESS))
              .correlate(Cycle).scalar_subquery())
    rows = session.execute(
        select(Cycle, func.coalesce(BallotChain.last_seq, 0), counted_offline_clause(Cycle.id), funded)
        .outerjoin(BallotChain, BallotChain.cycle_id == Cycle.id)
        .where(Cycle.community_id == community.id)
        .order_by(Cycle.year.desc())
    )
    years = []
    for cycle, seq, offline, funded_count in rows:
        phase = cycle.current_phase(now)
        voted = cycle.voting_opens_at is not None or bool(offline)  # a cycle that never had a vote has no result
        years.append(HistoryYear(cycle, phase, funded_count or 0, phase in AFTER_VOTING and voted, bool(offline),
                                 seq > 0))
    return years
