"""The yearly cycle of a community: fund, phases with their times, and the voting rules."""
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import utcnow
from ..enums import Phase, sql_in
from ..extensions import db
from ..geography.models import Community

PHASES = tuple(Phase)
METHODS = ("approval", "knapsack", "cumulative", "choose_one")
OUTCOME_RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")
# Who votes: every resident of 18 or over on the opening day, or one of them per household (户代表:
# the first of the household to vote; the household is the address).
VOTERS = ("adults", "households")
DEFAULT_FUND_FEN = 200_000 * 100
# The public notice (公示) of the result: how many days residents may object before building starts.
DEFAULT_NOTICE_DAYS, MIN_NOTICE_DAYS, MAX_NOTICE_DAYS = 7, 5, 30


@dataclass(frozen=True)
class VotingWindow:
    """A cycle's stored phase with its voting window: all the clock needs to tell the phase."""

    phase: str
    voting_opens_at: datetime | None
    voting_closes_at: datetime | None

    def current_phase(self, now: datetime) -> str:
        """The phase at `now`: voting opens and closes by the clock, no scheduler needed.

        Staff open the vote by setting the stored phase to `voting` once the window and the ballot
        are ready; until `voting_opens_at` the cycle is still in review (the vote is scheduled), and
        from `voting_closes_at` on it is in results.
        """
        if self.phase == Phase.VOTING:
            if self.voting_opens_at and now < self.voting_opens_at:
                return "review"
            if self.voting_closes_at and now >= self.voting_closes_at:
                return "results"
        return self.phase

    def is_voting_open(self, now: datetime) -> bool:
        return self.current_phase(now) == Phase.VOTING


class Cycle(db.Model):
    __tablename__ = "cycle"
    __table_args__ = (
        UniqueConstraint("community_id", "year"),
        CheckConstraint("fund_fen > 0", name="fund_positive"),
        CheckConstraint(sql_in("phase", PHASES), name="phase"),
        CheckConstraint(sql_in("method", METHODS), name="method"),
        CheckConstraint(sql_in("outcome_rule", OUTCOME_RULES), name="outcome_rule"),
        CheckConstraint(sql_in("voters", VOTERS), name="voters"),
        CheckConstraint("min_choices >= 0 AND (max_choices IS NULL OR max_choices >= min_choices)", name="choices"),
        CheckConstraint("(method = 'cumulative') = (points IS NOT NULL)", name="points_for_cumulative"),
        CheckConstraint("threshold IS NULL OR threshold >= 0", name="threshold"),
        CheckConstraint("threshold_percent IS NULL OR (threshold_percent BETWEEN 1 AND 100 AND threshold IS NULL)",
                        name="threshold_percent"),
        CheckConstraint("min_turnout_percent IS NULL OR min_turnout_percent BETWEEN 1 AND 100",
                        name="min_turnout_percent"),
        CheckConstraint(
            "voting_opens_at IS NULL OR voting_closes_at IS NULL OR voting_opens_at < voting_closes_at",
            name="voting_window",
        ),
        CheckConstraint(f"notice_days BETWEEN {MIN_NOTICE_DAYS} AND {MAX_NOTICE_DAYS}", name="notice_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    year: Mapped[int]
    fund_fen: Mapped[int] = mapped_column(BigInteger, default=DEFAULT_FUND_FEN)
    # The phase as last set by staff; `current_phase` adds what the clock says about voting.
    phase: Mapped[str] = mapped_column(String(16), default="collection")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    review_started_at: Mapped[datetime | None]
    voting_opens_at: Mapped[datetime | None]
    voting_closes_at: Mapped[datetime | None]
    closed_early_reason: Mapped[str | None] = mapped_column(String(500))
    results_published_at: Mapped[datetime | None]
    implementation_started_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Voting rules: fixed before the first ballot, frozen from then on (rules_frozen_at).
    method: Mapped[str] = mapped_column(String(16), default="approval")
    min_choices: Mapped[int] = mapped_column(default=1)
    max_choices: Mapped[int | None] = mapped_column(default=3)
    points: Mapped[int | None]
    threshold: Mapped[int | None]
    # greedy-threshold by a share of the voters instead (percent of the ballots counted); never both.
    threshold_percent: Mapped[int | None]
    # Below this turnout (percent of the electorate) the count funds nothing (None: no minimum).
    min_turnout_percent: Mapped[int | None]
    outcome_rule: Mapped[str] = mapped_column(String(20), default="greedy")
    voters: Mapped[str] = mapped_column(String(16), default="adults")
    notice_days: Mapped[int] = mapped_column(default=DEFAULT_NOTICE_DAYS)
    rules_frozen_at: Mapped[datetime | None]

    community: Mapped[Community] = relationship()

    @property
    def window(self) -> VotingWindow:
        return VotingWindow(self.phase, self.voting_opens_at, self.voting_closes_at)

    def current_phase(self, now: datetime) -> str:
        """The phase at `now` (see `VotingWindow.current_phase`)."""
        return self.window.current_phase(now)

    def is_voting_scheduled(self, now: datetime) -> bool:
        """Whether staff have opened the vote for a time still to come."""
        return self.phase == Phase.VOTING and self.current_phase(now) == Phase.REVIEW

    def is_voting_open(self, now: datetime) -> bool:
        return self.current_phase(now) == Phase.VOTING
