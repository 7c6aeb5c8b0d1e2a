"""Accounts, their roles and scopes (SPEC §2), and API tokens."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..database import utcnow
from ..enums import COMMUNITY_ROLES, Role, sql_in, sql_value
from ..extensions import db
from ..geography.models import Community, Grid
from ..residents.models import Resident

ROLES = tuple(Role)


class User(db.Model):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint(sql_in("role", Role), name="role"),
        # Community roles are scoped to exactly one community; district roles to none.
        CheckConstraint(f"({sql_in('role', COMMUNITY_ROLES)}) = (community_id IS NOT NULL)", name="community_scope"),
        CheckConstraint(f"(role = {sql_value(Role.GRID_WORKER)}) = (grid_id IS NOT NULL)", name="grid_scope"),
        # Only residents link to the registry; a resident account without a link cannot vote.
        CheckConstraint(f"resident_id IS NULL OR role = {sql_value(Role.RESIDENT)}", name="resident_link"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), index=True)
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("grid.id"))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("resident.id"), unique=True)
    is_enabled: Mapped[bool] = mapped_column(default=True)
    # Bumped to end every session and token of the account server-side.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    community: Mapped[Community | None] = relationship()
    grid: Mapped[Grid | None] = relationship()
    resident: Mapped[Resident | None] = relationship()

    # Flask-Login protocol.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.is_enabled

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    user: Mapped[User] = relationship()
