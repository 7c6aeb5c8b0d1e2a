"""Ballots and the voter roll, kept apart so that nothing joins a resident to their choices.

The roll (`RollEntry`) says *that* a resident of the cycle voted and by which channel; it is the
row locked while a ballot is cast, so it exists before the first vote. The ballots say *what* was
chosen, under a pseudonymous voter code derived with a server-side key; every version is kept and
exactly one is current (a partial unique index).
"""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db

CHANNELS = ("online", "assisted", "paper")


class RollEntry(db.Model):
    __tablename__ = "roll_entry"
    __table_args__ = (
        UniqueConstraint("cycle_id", "resident_id"),
        CheckConstraint("channel IS NULL OR channel IN ('online', 'assisted', 'paper')", name="channel"),
        CheckConstraint("has_voted = (channel IS NOT NULL)", name="voted_channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    has_voted: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[str | None] = mapped_column(String(16))


class Ballot(db.Model):
    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("cycle_id", "voter_code", "version"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("channel IN ('online', 'assisted', 'paper')", name="channel"),
        CheckConstraint("(channel = 'online') = (worker_id IS NULL)", name="worker_for_offline"),
        Index(
            "uq_ballot_current",
            "cycle_id",
            "voter_code",
            unique=True,
            sqlite_where=text("is_current"),
            postgresql_where=text("is_current"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    voter_code: Mapped[str] = mapped_column(String(32))
    version: Mapped[int]
    channel: Mapped[str] = mapped_column(String(16))
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cast_at: Mapped[datetime]
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    is_current: Mapped[bool] = mapped_column(default=True)

    choices: Mapped[list["BallotChoice"]] = relationship(
        back_populates="ballot", order_by="BallotChoice.project_id", cascade="all, delete-orphan"
    )


class BallotChoice(db.Model):
    __tablename__ = "ballot_choice"
    __table_args__ = (CheckConstraint("points >= 1", name="points"),)

    ballot_id: Mapped[int] = mapped_column(ForeignKey("ballot.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    points: Mapped[int] = mapped_column(default=1)

    ballot: Mapped[Ballot] = relationship(back_populates="choices")
