"""The district's places: sub-districts (街道), communities and villages (社区/村), grids (网格)."""
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db


class SubDistrict(db.Model):
    __tablename__ = "sub_district"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))

    communities: Mapped[list["Community"]] = relationship(
        back_populates="sub_district", order_by="Community.code"
    )


class Community(db.Model):
    __tablename__ = "community"
    __table_args__ = (CheckConstraint("kind IN ('community', 'village')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="community")
    sub_district_id: Mapped[int] = mapped_column(ForeignKey("sub_district.id"), index=True)

    sub_district: Mapped[SubDistrict] = relationship(back_populates="communities")
    grids: Mapped[list["Grid"]] = relationship(back_populates="community", order_by="Grid.code")


class Grid(db.Model):
    __tablename__ = "grid"
    # (id, community_id) is unique so that rows placed in a grid can prove, by foreign key,
    # that the grid belongs to their community.
    __table_args__ = (UniqueConstraint("id", "community_id", name="uq_grid_id_community"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)

    community: Mapped[Community] = relationship(back_populates="grids")
