"""The public archive of funded and completed projects: search, filters, pages, downloads, and
the API's list of projects (SPEC §5 GET /api/v1/projects)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ..cycles.models import Cycle
from ..enums import Phase
from ..errors import Invalid
from ..geography.models import Community, SubDistrict
from ..proposals.models import CATEGORIES, Project
from ..validation import InvalidField
from .closing import LeftOver, closings, left_over
from .models import DONE, PROGRESS, Acceptance, ProjectEnding, ProjectRating, SpendingEntry
from .progress import local_date

PAGE_SIZE = 20            # archive pages
API_PAGE_SIZE = 50        # GET /api/v1/projects
ARCHIVE_STATES = {"done": DONE, "underway": ("funded", "in_progress"), "all": PROGRESS, "ended": PROGRESS}
API_STATUSES = {"funded": ("funded",), "in_progress": ("in_progress",), "completed": DONE,
                "accepted": ("accepted",)}


@dataclass(frozen=True)
class ArchiveFilters:
    q: str = ""
    sub_district: str | None = None
    community: str | None = None
    year: int | None = None
    category: str | None = None
    state: str = "done"

    def as_args(self) -> dict:
        """The filters as query-string arguments (for links and downloads)."""
        args = {"q": self.q, "sub_district": self.sub_district, "community": self.community, "year": self.year,
                "category": self.category, "state": None if self.state == "done" else self.state}
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass(frozen=True)
class ArchiveRow:
    project: Project
    year: int
    community: Community
    sub_district: SubDistrict
    spent_fen: int
    rating_average: float | None
    rating_count: int
    accepted_on: date | None
    ending: ProjectEnding | None = None      # ended before acceptance, with its public reason
    carried_into_year: int | None = None     # carried over into a later year's cycle


@dataclass(frozen=True)
class Page:
    total: int
    page: int
    per_page: int
    rows: list = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _archive_select(filters: ArchiveFilters) -> Select:
    stmt = (
        select(Project, Cycle.year, Community, SubDistrict)
        .join(Cycle, Project.cycle_id == Cycle.id)
        .join(Community, Cycle.community_id == Community.id)
        .join(SubDistrict, Community.sub_district_id == SubDistrict.id)
        .where(Project.status.in_(ARCHIVE_STATES[filters.state]))
    )
    ended = select(ProjectEnding.project_id)
    if filters.state == "ended":
        stmt = stmt.where(Project.id.in_(ended))
    elif filters.state == "underway":  # an ended project is no longer being built
        stmt = stmt.where(Project.id.not_in(ended))
    if filters.q:
        stmt = stmt.where(Project.title.ilike(_like(filters.q), escape="\\"))
    if filters.sub_district:
        stmt = stmt.where(SubDistrict.code == filters.sub_district)
    if filters.community:
        stmt = stmt.where(Community.code == filters.community)
    if filters.year:
        stmt = stmt.where(Cycle.year == filters.year)
    if filters.category:
        stmt = stmt.where(Project.category == filters.category)
    return stmt


def _rows(session, results) -> list[ArchiveRow]:
    results = list(results)
    ids = [r[0].id for r in results]
    spent, ratings, accepted = {}, {}, {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        spent.update(session.execute(
            select(SpendingEntry.project_id, func.sum(SpendingEntry.amount_fen))
            .where(SpendingEntry.project_id.in_(chunk)).group_by(SpendingEntry.project_id)).all())
        ratings.update({pid: (total, n) for pid, total, n in session.execute(
            select(ProjectRating.project_id, func.sum(ProjectRating.score), func.count())
            .where(ProjectRating.project_id.in_(chunk)).group_by(ProjectRating.project_id)).all()})
        accepted.update(session.execute(
            select(Acceptance.project_id, Acceptance.accepted_on).where(Acceptance.project_id.in_(chunk))).all())
    year_end = closings(session, ids)
    rows = []
    for project, year, community, sub in results:
        total, n = ratings.get(project.id, (0, 0))
        closing = year_end.get(project.id)
        rows.append(ArchiveRow(project, year, community, sub, int(spent.get(project.id) or 0),
                               round(total / n, 1) if n else None, n,
                               accepted.get(project.id) or (local_date(project.accepted_at) if project.accepted_at
                                                            else None),
                               closing.ending if closing else None,
                               closing.carried_into.year if closing and closing.carried_into else None))
    return rows


def archive_page(session, filters: ArchiveFilters, page: int = 1, per_page: int = PAGE_SIZE) -> Page:
    """One page of the archive, newest year first."""
    stmt = _archive_select(filters)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    ordered = stmt.order_by(Cycle.year.desc(), Community.code, Project.votes.desc(), Project.id)
    results = session.execute(ordered.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(total, page, per_page, _rows(session, results))


def archive_rows(session, filters: ArchiveFilters, batch: int = 500):
    """Every row of the filtered archive, in batches (for the downloads)."""
    ordered = _archive_select(filters).order_by(Cycle.year.desc(), Community.code, Project.votes.desc(), Project.id)
    offset = 0
    while True:
        results = session.execute(ordered.limit(batch).offset(offset)).all()
        if not results:
            return
        yield from _rows(session, results)
        offset += batch


@dataclass(frozen=True)
class YearLeftOver:
    """The money left over (结余) of one year's closed cycles within the archive's place filters."""

    year: int
    rows: list[LeftOver]

    @property
    def total_fen(self) -> int:
        return sum(r.left_over_fen for r in self.rows)


def left_over_by_year(session, filters: ArchiveFilters) -> list[YearLeftOver]:
    """Per year (newest first) and community: the money left over of the closed cycles the place and year
    filters select."""
    stmt = (select(Cycle).join(Community, Cycle.community_id == Community.id)
            .join(SubDistrict, Community.sub_district_id == SubDistrict.id).where(Cycle.phase == Phase.CLOSED)
            .options(selectinload(Cycle.community)).order_by(Cycle.year.desc(), Community.code))
    if filters.sub_district:
        stmt = stmt.where(SubDistrict.code == filters.sub_district)
    if filters.community:
        stmt = stmt.where(Community.code == filters.community)
    if filters.year:
        stmt = stmt.where(Cycle.year == filters.year)
    cycles = list(session.scalars(stmt))
    money = left_over(session, cycles)
    years: dict[int, list[LeftOver]] = {}
    for cycle in cycles:
        years.setdefault(cycle.year, []).append(money[cycle.id])
    return [YearLeftOver(year, rows) for year, rows in years.items()]


def archive_choices(session) -> dict:
    """What the filters offer: sub-districts with their communities, the years, the categories."""
    subs = list(session.scalars(
        select(SubDistrict).options(selectinload(SubDistrict.communities)).order_by(SubDistrict.code)))
    years = list(session.scalars(
        select(Cycle.year).join(Project, Project.cycle_id == Cycle.id)
        .where(Project.status.in_(PROGRESS)).distinct().order_by(Cycle.year.desc())))
    return {"sub_districts": subs, "years": years, "categories": CATEGORIES}


# --- The API list ----------------------------------------------------------------------------------

def api_status_value(value, field: str = "status", label: str = "status") -> str | None:
    """GET /api/v1/projects `status`: one of `API_STATUSES`, or None when empty.

    :raises InvalidField: `bad_status`.
    """
    if value in (None, ""):
        return None
    if not isinstance(value, str) or value not in API_STATUSES:
        raise InvalidField(field, _("status must be one of: %(values)s.", values=", ".join(API_STATUSES)),
                           "bad_status")
    return value


def api_year_value(value, field: str = "year", label: str = "year") -> int | None:
    """GET /api/v1/projects `year`: four ASCII digits, or None when empty.

    :raises InvalidField: `bad_year`.
    """
    if value in (None, ""):
        return None
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) == 4):
        raise InvalidField(field, _("year must be a four-digit year such as 2021."), "bad_year")
    return int(value)


API_MAX_PAGE = 1_000_000


def api_page_value(value, field: str = "page", label: str = "page") -> int:
    """GET /api/v1/projects `page`: a whole number from 1 to `API_MAX_PAGE` in ASCII digits; 1 when empty.

    :raises InvalidField: `bad_page`.
    """
    if value in (None, ""):
        return 1
    if not (isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 7
            and 1 <= int(value) <= API_MAX_PAGE):
        raise InvalidField(field, _("page must be a whole number from 1."), "bad_page")
    return int(value)


def api_projects(session, status: str | None, community: str | None, year: str | None, page: str | None):
    """SPEC §5 GET /api/v1/projects: read the filters (the readers above), return (total, rows of one page).

    :raises Invalid: `bad_status`, `unknown_community`, `bad_year`, `bad_page` (422).
    """
    wanted = api_status_value(status)
    statuses = API_STATUSES[wanted] if wanted else PROGRESS
    stmt = (select(Project, Cycle.year, Community.code).join(Cycle, Project.cycle_id == Cycle.id)
            .join(Community, Cycle.community_id == Community.id).where(Project.status.in_(statuses)))
    if community not in (None, ""):
        if not isinstance(community, str) or not session.scalar(select(Community.id).where(Community.code == community)):
            raise Invalid(_("There is no community with code '%(code)s'.", code=community), "unknown_community")
        stmt = stmt.where(Community.code == community)
    year_number = api_year_value(year)
    if year_number is not None:
        stmt = stmt.where(Cycle.year == year_number)
    number = api_page_value(page)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(Project.id).limit(API_PAGE_SIZE).offset((number - 1) * API_PAGE_SIZE)).all()
    return total, rows
