"""Proposals and projects: one row from a resident's proposal to a completed, accepted project."""
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..accounts.models import User
from ..cycles.models import Cycle
from ..database import utcnow
from ..enums import BALLOT_STATUSES, DECIDED_STATUSES  # noqa: F401 (the features import them from here)
from ..enums import UNREVIEWED_STATUSES, ProjectStatus, sql_in, sql_value
from ..extensions import db

CATEGORIES = (
    "water", "power", "road", "gas", "network",
    "culture", "sports", "elderly", "childcare", "shopping",
    "parking", "greening", "lighting", "drainage", "other",
)

STATUSES = tuple(ProjectStatus)


class Project(db.Model):
    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint(sql_in("status", ProjectStatus), name="status"),
        CheckConstraint(sql_in("category", CATEGORIES), name="category"),
        CheckConstraint("estimated_cost_fen > 0", name="estimated_cost_positive"),
        CheckConstraint("cost_fen IS NULL OR cost_fen > 0", name="cost_positive"),
        # Anything on the ballot or after it has a reviewed cost; a rejection has its public reason.
        CheckConstraint(f"{sql_in('status', UNREVIEWED_STATUSES)} OR cost_fen IS NOT NULL", name="reviewed_cost"),
        CheckConstraint(f"status <> {sql_value(ProjectStatus.REJECTED)} OR review_reason IS NOT NULL",
                        name="rejection_reason"),
        CheckConstraint(f"(status = {sql_value(ProjectStatus.MERGED)}) = (merged_into_id IS NOT NULL)",
                        name="merged_into"),
        CheckConstraint("votes IS NULL OR votes >= 0", name="votes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycle.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16))
    location: Mapped[str | None] = mapped_column(String(200))
    estimated_cost_fen: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="submitted", index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str | None] = mapped_column(String(500))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"))
    # The published count of the vote (set when results are computed).
    votes: Mapped[int | None]
    completed_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]

    cycle: Mapped[Cycle] = relationship()
    submitted_by: Mapped[User | None] = relationship(foreign_keys=[submitted_by_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])
    merged_into: Mapped["Project | None"] = relationship(remote_side=[id])
    photos: Mapped[list["ProjectPhoto"]] = relationship(order_by="ProjectPhoto.id", passive_deletes=True)

    @property
    def ballot_cost_fen(self) -> int:
        """The cost voters see: the reviewed cost, or the estimate before review."""
        return self.cost_fen if self.cost_fen is not None else self.estimated_cost_fen


class ProjectPhoto(db.Model):
    """A photo of a proposal or project, re-encoded; its bytes are the stored file `filename`."""

    __tablename__ = "project_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int]
    height: Mapped[int]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
