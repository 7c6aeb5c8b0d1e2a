"""The resident registry: who lives where. The ID number is kept only as a keyed hash.

The facts that decide a vote's electorate (the community, the status, the household) are the
resident's row as it is now, valid since `facts_since`; each earlier version, with the time it held,
is a `ResidentHistory` row. So the electorate of a vote, fixed when it opened, is computed the same
whatever the registry learns while the vote is open (`cycles.electorate.in_electorate`)."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, ForeignKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import utcnow
from ..extensions import db
from ..geography.models import Community, Grid

RESIDENT_STATUSES = ("active", "moved", "deceased")
_STATUS_CHECK = "status IN ('active', 'moved', 'deceased')"


class Resident(db.Model):
    __tablename__ = "resident"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
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
    # A keyed hash of the community and the normalised address (`services.household_key`): one vote
    # per household is checked on it, and a roll entry carries it, never the address.
    household: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="active")
    # The day the resident turns 18, kept only for who was under 18 when registered (None: of age
    # then, so at every vote whose electorate they are in); from the ID number's birth date.
    adult_on: Mapped[date | None]
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
    # Since when community_id, status and household are as they are (created_at at first).
    facts_since: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community] = relationship()
    grid: Mapped[Grid] = relationship(foreign_keys=[grid_id], primaryjoin="Resident.grid_id == Grid.id")

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class ResidentHistory(db.Model):
    """An earlier version of a resident's electorate facts, and the time it held [valid_from,
    valid_until). Written by `services.change_facts`; never changed."""

    __tablename__ = "resident_history"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("valid_from <= valid_until", name="period"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("resident.id"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    status: Mapped[str] = mapped_column(String(16))
    household: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[datetime]
    valid_until: Mapped[datetime]
