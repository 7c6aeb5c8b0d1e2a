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
