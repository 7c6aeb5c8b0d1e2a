"""Ballots and the voter roll, kept apart so that nothing joins a resident to their choices.

The roll (`RollEntry`) says *that* a resident of the cycle voted, by which channel and, for an
assisted or paper ballot, which worker entered it. The ballots say only *what* was chosen, under a
pseudonymous voter code derived with a server-side key (no channel, no worker: nothing the roll
also holds); every version is kept and exactly one is current (a partial unique index).

One ballot per resident holds whatever the key: the cycle's chain head names the key its voter
codes come from (`BallotChain.voter_key`, a fingerprint, fixed by the first cast), and every
ballot carries it under a composite foreign key, so a host with another key cannot record a
ballot in that cycle at all.

Every recorded ballot version also extends its cycle's hash chain (`seq`, `chain_hash`; the head
in `BallotChain`); see `chain.py` for the exact text that is hashed.
"""
from datetime import datetime

from sqlalchemy import (CheckConstraint, ForeignKey, ForeignKeyConstraint, Index, String, Text, UniqueConstraint,
                        text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import utcnow
from ..enums import Channel, sql_in, sql_value
from ..extensions import db

CHANNELS = tuple(Channel)
PAPER_ENTRY_STATUSES = ("pending", "disputed", "accepted")


class RollEntry(db.Model):
    __tablename__ = "roll_entry"
    __table_args__ = (
        UniqueConstraint("cycle_id", "resident_id"),
        CheckConstraint(f"channel IS NULL OR {sql_in('channel', Channel)}", name="channel"),
        CheckConstraint("has_voted = (channel IS NOT NULL)", name="voted_channel"),
        CheckConstraint(f"(COALESCE(channel, {sql_value(Channel.ONLINE)}) <> {sql_value(Channel.ONLINE)}) "
                        "= (worker_id IS NOT NULL)", name="worker_for_offline"),
        # One vote per household (a cycle of `voters` "households"): the roll entry of such a cycle
        # carries the voter's household key (a keyed hash, never the address), the others none.
        Index("uq_roll_entry_household", "cycle_id", "household", unique=True,
              sqlite_where=text("household IS NOT NULL"), postgresql_where=text("household IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"))  # indexed by the unique constraint
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    has_voted: Mapped[bool] = mapped_column(default=False)
    channel: Mapped[str | None] = mapped_column(String(16))
    # Who entered the latest ballot (assisted or paper): counted per worker, never on a ballot's row.
    worker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    household: Mapped[str | None] = mapped_column(String(32))


class Ballot(db.Model):
    __tablename__ = "ballot"
    __table_args__ = (
        UniqueConstraint("cycle_id", "voter_code", "version"),
        UniqueConstraint("cycle_id", "seq"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint("seq >= 1", name="seq"),
        # The key of the cycle's voter codes (`BallotChain.voter_key`); also the cycle's foreign key.
        ForeignKeyConstraint(["cycle_id", "voter_key"], ["ballot_chain.cycle_id", "ballot_chain.voter_key"],
                             name="fk_ballot_chain_key"),
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
    cycle_id: Mapped[int]  # indexed by (cycle_id, seq): one index less to write
    voter_code: Mapped[str] = mapped_column(String(32))
    voter_key: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    cast_at: Mapped[datetime]
    receipt: Mapped[str] = mapped_column(String(32), unique=True)
    is_current: Mapped[bool] = mapped_column(default=True)
    # Position in the cycle's hash chain (1, 2, 3, …) and the chain's hash after this row.
    seq: Mapped[int]
    chain_hash: Mapped[str] = mapped_column(String(64))

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


class BallotChain(db.Model):
    """The head of a cycle's hash chain: locked from a cast's first write to its commit, by closing
    the vote early and by the count (`last_seq` 0: no ballot yet). `voter_key` is the fingerprint
    of the key the cycle's voter codes come from (`codes.key_fingerprint`), set by the first cast."""

    __tablename__ = "ballot_chain"
    __table_args__ = (CheckConstraint("last_seq >= 0", name="last_seq"),
                      UniqueConstraint("cycle_id", "voter_key", name="uq_ballot_chain_key"))

    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    head_hash: Mapped[str] = mapped_column(String(64))
    voter_key: Mapped[str] = mapped_column(String(16))


class IdempotentAnswer(db.Model):
    """The first answer to a cast sent with an `Idempotency-Key`, replayed for the same key until it
    expires (a few hours, never past the close; the count deletes the cycle's answers).

    Nothing here names the account or the choices: the key is stored as a hash of (account, key),
    and the request as a hash salted with it (choices alone are few enough to guess)."""

    __tablename__ = "idempotent_answer"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    # SHA-256 of the key's hash, the cycle and the choices: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # {receipt, cast_at, version, seq, chain_hash}: no choices
    expires_at: Mapped[datetime] = mapped_column(index=True)


class PaperBatch(db.Model):
    """A grid's paper ballots, entered twice by two different people, then reconciled."""

    __tablename__ = "paper_batch"
    __table_args__ = (
        CheckConstraint("round1_by_id <> round2_by_id", name="two_people"),
        CheckConstraint("round1_done_at IS NULL OR round1_by_id IS NOT NULL", name="round1_done_by"),
        CheckConstraint("round2_done_at IS NULL OR round2_by_id IS NOT NULL", name="round2_done_by"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id"))
    label: Mapped[str] = mapped_column(String(80))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    round1_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    round2_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    round1_done_at: Mapped[datetime | None]
    round2_done_at: Mapped[datetime | None]
    reconciled_at: Mapped[datetime | None]
    accepted_count: Mapped[int] = mapped_column(default=0)

    cycle = relationship("Cycle")
    grid = relationship("Grid")
    round1_by = relationship("User", foreign_keys=[round1_by_id])
    round2_by = relationship("User", foreign_keys=[round2_by_id])
    entries: Mapped[list["PaperEntry"]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="PaperEntry.id"
    )


class PaperEntry(db.Model):
    """One paper ballot as typed in one round. Its choices and its resident are erased once it
    became a ballot (what is left says only that a paper of the batch was counted)."""

    __tablename__ = "paper_entry"
    __table_args__ = (
        UniqueConstraint("batch_id", "round", "resident_id"),
        CheckConstraint("round IN (1, 2)", name="round"),
        CheckConstraint("status IN ('pending', 'disputed', 'accepted')", name="status"),
        CheckConstraint("(status = 'accepted') = (choices IS NULL)", name="choices_until_accepted"),
        CheckConstraint("(status = 'accepted') = (resident_id IS NULL)", name="resident_until_accepted"),
        CheckConstraint("(status = 'disputed') = (problem IS NOT NULL)", name="problem_when_disputed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("paper_batch.id", ondelete="CASCADE"), index=True)
    round: Mapped[int]
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"))
    # "id:points,id:points" ascending by project id, as in the hash chain.
    choices: Mapped[str | None] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    problem: Mapped[str | None] = mapped_column(String(40))
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)

    batch: Mapped[PaperBatch] = relationship(back_populates="entries")
    resident = relationship("Resident")
