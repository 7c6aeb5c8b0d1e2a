"""Following the money: what happened to a funded project, and what it cost.

A funded project moves forward only: funded → in_progress → completed → accepted (验收), each step
logged (`ProgressChange`). Staff of the community record milestones (with photos) and spending
entries against the year's fund. Spending beyond a project's voted cost, or beyond the year's fund,
needs the district admin's approval (`FundApproval`: for one project, or for the year). A wrong
payment is corrected by a reversal, an entry of the opposite amount linked to the one it cancels
(never by deletion). On acceptance an `Acceptance` record says who accepted it, when, with what
remarks. Residents of the community rate a completed project once (`ProjectRating`).
"""
from datetime import date, datetime
from itertools import pairwise

from sqlalchemy import BigInteger, CheckConstraint, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..cycles.models import Cycle
from ..database import utcnow
from ..enums import DONE, PROGRESS, sql_value  # noqa: F401 (DONE: tracking's services import it from here)
from ..extensions import db
from ..proposals.models import Project


class ProgressChange(db.Model):
    """One forward step of a project's status: who moved it, when."""

    __tablename__ = "progress_change"
    __table_args__ = (
        CheckConstraint(" OR ".join(f"(from_status = {sql_value(a)} AND to_status = {sql_value(b)})"
                                    for a, b in pairwise(PROGRESS)), name="forward_one_step"),
        UniqueConstraint("project_id", "to_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    changed_by: Mapped[User | None] = relationship()


class Milestone(db.Model):
    """A dated step of the work, told in a sentence or two, with photos."""

    __tablename__ = "milestone"
    __table_args__ = (CheckConstraint("length(text) > 0", name="text_present"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    happened_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(String(1000))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    photos: Mapped[list["MilestonePhoto"]] = relationship(
        back_populates="milestone", order_by="MilestonePhoto.id", cascade="all, delete-orphan"
    )


class MilestonePhoto(db.Model):
    """A photo of a milestone, re-encoded as JPEG; its bytes are the stored file `filename`."""

    __tablename__ = "milestone_photo"
    __table_args__ = (CheckConstraint("width > 0 AND height > 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    milestone_id: Mapped[int] = mapped_column(ForeignKey("milestone.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int]
    height: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    milestone: Mapped[Milestone] = relationship(back_populates="photos")


class FundApproval(db.Model):
    """The district admin's explicit approval to spend beyond a community-year's fund (no project),
    or beyond one funded project's voted cost (`project_id`)."""

    __tablename__ = "fund_approval"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("length(reason) > 0", name="reason_present"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    # Set for an approval beyond one project's voted cost; None: beyond the year's fund.
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(500))
    approved_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    approved_at: Mapped[datetime] = mapped_column(default=utcnow)

    cycle: Mapped[Cycle] = relationship()
    project: Mapped[Project | None] = relationship()
    approved_by: Mapped[User] = relationship()


class SpendingEntry(db.Model):
    """Money paid out of the fund for a project, or the reversal of such a payment: the opposite
    amount, linked to the payment it cancels (once: `reverses_id` is unique), with its reason in
    `note`."""

    __tablename__ = "spending_entry"
    __table_args__ = (
        CheckConstraint("(reverses_id IS NULL AND amount_fen > 0) OR "
                        "(reverses_id IS NOT NULL AND amount_fen < 0 AND length(note) > 0)",
                        name="amount_sign"),
        CheckConstraint("length(payee) > 0", name="payee_present"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    spent_on: Mapped[date] = mapped_column(Date)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(String(120))
    note: Mapped[str] = mapped_column(String(500), default="")
    # Set when the entry took its project beyond its voted cost, or the year beyond the fund: the
    # approval that allowed it.
    approval_id: Mapped[int | None] = mapped_column(ForeignKey("fund_approval.id"))
    # Set on a reversal: the payment it cancels (a payment is reversed at most once).
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("spending_entry.id"), unique=True)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship()
    approval: Mapped[FundApproval | None] = relationship()
    reverses: Mapped["SpendingEntry | None"] = relationship(remote_side=[id], back_populates="reversal")
    reversal: Mapped["SpendingEntry | None"] = relationship(back_populates="reverses")


class Acceptance(db.Model):
    """The acceptance (验收) of a completed project: who accepted it, when, with what remarks."""

    __tablename__ = "acceptance"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), unique=True)
    accepted_on: Mapped[date] = mapped_column(Date)
    # Who took part: e.g. the community committee, residents' representatives, the owners' committee.
    panel: Mapped[str] = mapped_column(String(300))
    remarks: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    recorded_by: Mapped[User | None] = relationship()


class CarryOver(db.Model):
    """A funded project not accepted when its year closes, carried into a later cycle of the community
    (multi-year work): it goes on in that year's ledger, while its remaining money stays committed out
    of its own year's fund. Carried again, it gets another row; the latest says where it is now."""

    __tablename__ = "carry_over"
    __table_args__ = (
        UniqueConstraint("project_id", "into_cycle_id"),
        CheckConstraint("from_cycle_id <> into_cycle_id", name="another_cycle"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    from_cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"))
    into_cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    carried_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    carried_at: Mapped[datetime] = mapped_column(default=utcnow)

    from_cycle: Mapped[Cycle] = relationship(foreign_keys=[from_cycle_id])
    into_cycle: Mapped[Cycle] = relationship(foreign_keys=[into_cycle_id])


class ProjectEnding(db.Model):
    """A funded project ended before acceptance, with its public reason: what was paid stays paid, the
    rest of its voted cost is no longer committed (it goes to the year's money left over)."""

    __tablename__ = "project_ending"
    __table_args__ = (CheckConstraint("length(reason) > 0", name="reason_present"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), unique=True)
    # The cycle the project was in when it ended: its own, or the one it was carried into.
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    ended_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ended_at: Mapped[datetime] = mapped_column(default=utcnow)

    cycle: Mapped[Cycle] = relationship()


class ProjectRating(db.Model):
    """A resident's rating of a completed project: once per resident and project."""

    __tablename__ = "project_rating"
    __table_args__ = (
        UniqueConstraint("project_id", "resident_id"),
        CheckConstraint("score BETWEEN 1 AND 5", name="score"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    score: Mapped[int]
    comment: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
