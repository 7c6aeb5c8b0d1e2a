"""The resident registry: who lives where. The ID number is kept only as a keyed hash."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import utcnow
from ..extensions import db
from ..geography.models import Community, Grid

RESIDENT_STATUSES = ("active", "moved")


class Resident(db.Model):
    __tablename__ = "resident"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'moved')", name="status"),
        ForeignKeyConstraint(
            ["grid_id", "community_id"], ["grid.id", "grid.community_id"], name="fk_resident_grid_in_community"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(String(64))
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The personal voting code for assisted ballots (printed for the resident), only as a hash.
    voting_code_hash: Mapped[str | None] = mapped_column(String(256))
    # Finds a code's resident without a hash per resident: a short keyed tag of the code, shared by
    # many (`ballots.codes.voting_code_tag`); the slow hash above is then checked for the few it finds.
    voting_code_tag: Mapped[str | None] = mapped_column(String(8), index=True)
    # A code that activated the account: no longer valid anywhere, kept only so that the same code
    # and ID digits sent again get "already activated" (`accounts.activation`).
    used_code_hash: Mapped[str | None] = mapped_column(String(256))
    # The last six characters of the ID number as a salted keyed hash (`residents.idcheck`): what
    # activation checks besides the code. Filled at import (the ID number itself is never stored).
    id_last6_hash: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community] = relationship()
    grid: Mapped[Grid] = relationship(foreign_keys=[grid_id], primaryjoin="Resident.grid_id == Grid.id")

    @property
    def is_active(self) -> bool:
        return self.status == "active"
