"""The published result of a cycle's vote: the rule, the ballots it counted, every project's fate."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class CycleResult(db.Model):
    __tablename__ = "cycle_result"
    __table_args__ = (
        CheckConstraint("ballots_counted >= 0 AND eligible_voters >= 0", name="counts"),
        CheckConstraint("chain_seq >= 0", name="chain_seq"),
    )

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(20))
    ballots_counted: Mapped[int]
    eligible_voters: Mapped[int]
    computed_at: Mapped[datetime]
    tie_break: Mapped[str] = mapped_column(String(300))
    # The ballot chain when the vote closed: its length and head hash, published with the result.
    chain_seq: Mapped[int]
    chain_head: Mapped[str] = mapped_column(String(64))
    # JSON: [{"id", "votes", "score", "cost_fen", "selected", "reason_code", "reason_args"}] in ranking order.
    outcomes: Mapped[str] = mapped_column(Text)
    # JSON: the funded project ids in order of selection.
    selected: Mapped[str] = mapped_column(Text)


class Objection(db.Model):
    """A resident's objection to a published result, filed during its public notice (公示), and the
    staff's public answer. Both are public; neither changes once written."""

    __tablename__ = "objection"
    __table_args__ = (
        CheckConstraint("(answer IS NULL) = (answered_at IS NULL) AND (answer IS NULL) = (answered_by_id IS NULL)",
                        name="answered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    # The account that filed it: for the staff and the action log, never shown in public.
    filed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    @property
    def is_answered(self) -> bool:
        return self.answer is not None
