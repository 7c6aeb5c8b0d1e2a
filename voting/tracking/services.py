"""Following the money: project progress, milestones, spending against the fund, acceptance,
ratings, the public archive and the district dashboard.

Services take the session and the acting user, check scope and rules, write, flush and raise
named errors; they never commit.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..accounts.policy import require_manager, require_overrun_approver, require_rater
from ..audit.services import log_action
from ..ballots.models import RollEntry
from ..cycles.models import Cycle
from ..database import utcnow
from ..enums import Phase, ProjectStatus
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..geography.models import Community, SubDistrict
from ..format import STATUS_LABELS
from ..money import yuan_grouped
from ..proposals.models import CATEGORIES, Project, ProjectPhoto
from ..residents.models import Resident
from . import photos as photo_files
from .models import (
    DONE, PROGRESS, Acceptance, FundApproval, Milestone, MilestonePhoto, ProgressChange, ProjectRating,
    SpendingEntry,
)

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
PAGE_SIZE = 20            # archive pages
API_PAGE_SIZE = 50        # GET /api/v1/projects
ARCHIVE_STATES = {"done": DONE, "underway": ("funded", "in_progress"), "all": PROGRESS}
API_STATUSES = {"funded": ("funded",), "in_progress": ("in_progress",), "completed": DONE,
                "accepted": ("accepted",)}
MAX_TEXT = 1000
MAX_PAYEE = 120
MAX_NOTE = 500
MAX_COMMENT = 500
MAX_REASON = 500
MAX_PANEL = 300


def invalid(message: str, code: str, field_name: str | None = None) -> Invalid:
    """An `Invalid` error that names the form field it belongs to (pages show it next to the field)."""
    error = Invalid(message, code)
    error.field = field_name
    return error


def local_date(value: datetime) -> date:
    """The Asia/Shanghai calendar date of a stored (naive UTC) time."""
    return value.replace(tzinfo=UTC).astimezone(LOCAL_ZONE).date()


def local_today() -> date:
    return datetime.now(LOCAL_ZONE).date()


# --- Reading one project -------------------------------------------------------------------------

def tracked_project(session, project_id: int) -> Project:
    """A funded (or later) project.

    :raises NotFound: when there is no such project, or it was never funded.
    """
    project = session.get(Project, project_id)
    if project is None or project.status not in PROGRESS:
        raise NotFound(_("There is no funded project %(id)s.", id=project_id), "unknown_project")
    return project


def project_for_staff(session, user, project_id: int, *, for_update: bool = False) -> Project:
    """The project, for staff of its community to record progress on.

    :raises NotFound: when there is no funded project with this id.
    :raises Forbidden: when the user is not staff, or is staff of another community.
    """
    project = tracked_project(session, project_id)
    require_manager(user, project)
    if for_update:
        session.refresh(project, with_for_update=True)
    return project


def funded_on(project: Project) -> date:
    """The day the project was funded: the day its cycle's results were published."""
    cycle = project.cycle
    moment = cycle.results_published_at or cycle.voting_closes_at or cycle.created_at
    return local_date(moment)


def next_status(project: Project) -> str | None:
    """The one status the project may move to next, or None when it is accepted."""
    index = PROGRESS.index(project.status)
    return PROGRESS[index + 1] if index + 1 < len(PROGRESS) else None


def _check_open(project: Project) -> None:
    if project.cycle.phase == Phase.CLOSED:
        raise Conflict(_("The %(year)d cycle is closed; its records are archived and no longer change.",
                         year=project.cycle.year), "cycle_closed")


def _check_day(day: date, project: Project, field_name: str, *, not_before: date | None = None,
               not_before_message: str | None = None) -> None:
    funded = funded_on(project)
    if day > local_today():
        raise invalid(_("The date %(day)s is in the future.", day=day.isoformat()), "date_in_future", field_name)
    if day < funded:
        raise invalid(_("The date %(day)s is before the project was funded (%(funded)s).",
                        day=day.isoformat(), funded=funded.isoformat()), "date_before_funding", field_name)
    if not_before and day < not_before:
        raise invalid(not_before_message or "", "date_too_early", field_name)


def _text(value, limit: int, field_name: str, *, required: bool, label: str) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else None
    if text is None:
        raise invalid(_("%(field)s must be text.", field=label), "bad_text", field_name)
    if required and not text:
        raise invalid(_("Please fill in %(field)s.", field=label), "missing_text", field_name)
    if len(text) > limit:
        raise invalid(_("%(field)s is longer than %(n)d characters.", field=label, n=limit), "text_too_long",
                      field_name)
    return text


# --- Recording progress --------------------------------------------------------------------------

def advance_status(session, user, project: Project, to_status: str, *, accepted_on: date | None = None,
                   panel: str | None = None, remarks: str | None = None) -> Project:
    """Move the project one step forward; accepting it records the acceptance.

    :raises Invalid: `bad_status_change` when `to_status` is not the next step (backwards, skipping,
        or unknown); acceptance without a date or panel, or dated wrongly.
    :raises Conflict: when the cycle is closed.
    """
    _check_open(project)
    expected = next_status(project)
    if to_status != expected:
        current = project.status
        if expected is None:
            message = _("This project is already accepted; its status does not change any more.")
        else:
            message = _("A project moves one step forward only: from “%(current)s” the next step is “%(next)s”.",
                        current=_status_label(current), next=_status_label(expected))
        raise invalid(message, "bad_status_change", "to_status")
    now = _now()
    if to_status == ProjectStatus.ACCEPTED:
        if accepted_on is None:
            raise invalid(_("Please give the date of the acceptance."), "missing_date", "accepted_on")
        completed = local_date(project.completed_at) if project.completed_at else funded_on(project)
        _check_day(accepted_on, project, "accepted_on", not_before=completed,
                   not_before_message=_("The acceptance cannot be before the project was completed (%(day)s).",
                                        day=completed.isoformat()))
        panel = _text(panel, MAX_PANEL, "panel", required=True, label=_("who took part"))
        remarks = _text(remarks, MAX_TEXT, "remarks", required=False, label=_("remarks"))
        session.add(Acceptance(project_id=project.id, accepted_on=accepted_on, panel=panel, remarks=remarks,
                               recorded_by_id=user.id, recorded_at=now))
        project.accepted_at = now
    elif to_status == ProjectStatus.COMPLETED:
        project.completed_at = now
    session.add(ProgressChange(project_id=project.id, from_status=project.status, to_status=to_status,
                               changed_by_id=user.id, changed_at=now))
    log_action(session, user, "tracking.status", project.cycle.community, project=project.id,
               from_status=project.status, to_status=to_status)
    project.status = to_status
    session.flush()
    return project


def add_milestone(session, user, project: Project, happened_on: date | None, text: str | None,
                  photos: list[tuple[str, bytes]]) -> Milestone:
    """Record a milestone with its photos (each re-encoded and stored).

    :raises Invalid: a missing or wrong date, missing text, too many photos, a file that is not an
        image or is too large. Nothing is stored then.
    :raises Conflict: when the cycle is closed.
    """
    _check_open(project)
    if happened_on is None:
        raise invalid(_("Please give the date of the milestone."), "missing_date", "happened_on")
    _check_day(happened_on, project, "happened_on")
    text = _text(text, MAX_TEXT, "text", required=True, label=_("what happened"))
    if len(photos) > photo_files.MAX_PHOTOS:
        raise invalid(_("At most %(n)d photos per milestone.", n=photo_files.MAX_PHOTOS), "too_many_photos",
                      "photos")
    encoded = [photo_files.process_photo(raw, name) for name, raw in photos]  # all checked before any write
    milestone = Milestone(project_id=project.id, happened_on=happened_on, text=text, recorded_by_id=user.id)
    session.add(milestone)
    session.flush()
    for photo in encoded:
        filename = photo_files.store_photo(session, photo)
        session.add(MilestonePhoto(milestone_id=milestone.id, filename=filename, width=photo.width,
                                   height=photo.height, uploaded_by_id=user.id))
    log_action(session, user, "tracking.milestone", project.cycle.community, project=project.id,
               milestone=milestone.id, date=happened_on.isoformat(), photos=len(encoded))
    session.flush()
    return milestone


def record_spending(session, user, project: Project, spent_on: date | None, amount_fen: int | None,
                    payee: str | None, note: str | None) -> SpendingEntry:
    """Record money paid for the project out of its year's fund.

    The cycle row is locked first so that two payments at once cannot both fit in the same room.

    :raises Invalid: `bad_amount` (zero or negative), a missing or wrong date, a missing payee,
        `over_fund` when the year's spending would pass the fund and the admin's approvals.
    :raises Conflict: when the cycle is closed.
    """
    _check_open(project)
    if amount_fen is None or amount_fen <= 0:
        raise invalid(_("The amount must be more than zero."), "bad_amount", "amount")
    if spent_on is None:
        raise invalid(_("Please give the date of the payment."), "missing_date", "spent_on")
    _check_day(spent_on, project, "spent_on")
    payee = _text(payee, MAX_PAYEE, "payee", required=True, label=_("the payee"))
    note = _text(note, MAX_NOTE, "note", required=False, label=_("the note"))
    cycle = session.execute(select(Cycle).where(Cycle.id == project.cycle_id).with_for_update()).scalar_one()
    spent = _cycle_spent(session, cycle.id)
    approvals = list(session.scalars(
        select(FundApproval).where(FundApproval.cycle_id == cycle.id).order_by(FundApproval.id)
    ))
    limit = cycle.fund_fen + sum(a.amount_fen for a in approvals)
    after = spent + amount_fen
    if after > limit:
        raise invalid(
            _("This payment would bring the %(year)d spending to ¥%(after)s, beyond the fund of ¥%(limit)s. "
              "Spending beyond the fund needs the district admin's approval first.",
              year=cycle.year, after=yuan_grouped(after), limit=yuan_grouped(limit)),
            "over_fund", "amount")
    entry = SpendingEntry(project_id=project.id, spent_on=spent_on, amount_fen=amount_fen, payee=payee, note=note,
                          approval_id=approvals[-1].id if after > cycle.fund_fen else None,
                          recorded_by_id=user.id)
    session.add(entry)
    session.flush()
    log_action(session, user, "tracking.spending", cycle.community, project=project.id, entry=entry.id,
               date=spent_on.isoformat(), amount_fen=amount_fen, payee=payee, approval=entry.approval_id)
    return entry


def approve_overrun(session, admin, cycle: Cycle, amount_fen: int | None, reason: str | None) -> FundApproval:
    """The district admin allows spending beyond a community-year's fund (logged with reason and time).

    :raises Forbidden: when the user is not the district admin.
    :raises Invalid: a zero or negative amount, a missing reason.
    """
    require_overrun_approver(admin)
    if amount_fen is None or amount_fen <= 0:
        raise invalid(_("The amount must be more than zero."), "bad_amount", "amount")
    reason = _text(reason, MAX_REASON, "reason", required=True, label=_("the reason"))
    approval = FundApproval(cycle_id=cycle.id, amount_fen=amount_fen, reason=reason, approved_by_id=admin.id,
                            approved_at=_now())
    session.add(approval)
    session.flush()
    log_action(session, admin, "tracking.approve_beyond_fund", cycle.community, year=cycle.year,
               approval=approval.id, amount_fen=amount_fen, reason=reason)
    return approval


def rate_project(session, user, project: Project, score, comment: str | None) -> ProjectRating:
    """A resident of the project's community rates it, once, after it is completed.

    :raises Forbidden: when the user is not an active resident of the community.
    :raises Conflict: `not_completed` before completion; `already_rated` for a second rating (also
        refused by the database's unique constraint when two arrive at once).
    :raises Invalid: `bad_score` outside 1–5; an over-long comment.
    """
    require_rater(user, project)
    resident = session.get(Resident, user.resident_id)
    if resident is None or not resident.is_active or resident.community_id != project.cycle.community_id:
        raise Forbidden(_("Only residents of the community rate its projects."))
    if project.status not in DONE:
        raise Conflict(_("A project can be rated once it is completed."), "not_completed")
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise invalid(_("Choose a score from 1 to 5."), "bad_score", "score")
    comment = _text(comment, MAX_COMMENT, "comment", required=False, label=_("the comment"))
    already = _("You have already rated this project; each resident rates a project once.")
    if session.scalar(select(ProjectRating.id).where(ProjectRating.project_id == project.id,
                                                     ProjectRating.resident_id == resident.id)):
        raise Conflict(already, "already_rated")
    rating = ProjectRating(project_id=project.id, resident_id=resident.id, score=score, comment=comment)
    try:
        with session.begin_nested():
            session.add(rating)
    except IntegrityError:
        raise Conflict(already, "already_rated") from None
    return rating


def milestone_photo_exists(session, filename: str) -> bool:
    """Whether `filename` is a milestone photo (milestones are public: their photos are too)."""
    return session.scalar(select(MilestonePhoto.id).where(MilestonePhoto.filename == filename)) is not None


def my_rating(session, user, project: Project) -> ProjectRating | None:
    if not user.is_authenticated or user.resident_id is None:
        return None
    return session.scalar(select(ProjectRating).where(ProjectRating.project_id == project.id,
                                                      ProjectRating.resident_id == user.resident_id))


# --- The story of one project --------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    day: date
    kind: str            # funded, started, milestone, completed, accepted
    text: str = ""
    photos: tuple = ()


@dataclass(frozen=True)
class RatingSummary:
    count: int
    average: float | None
    histogram: dict[int, int]
    comments: list[ProjectRating]


@dataclass(frozen=True)
class ProjectStory:
    project: Project
    community: Community
    rank: int | None              # by votes among its cycle's ballot
    on_ballot: int
    events: list[Event]
    photos: list[MilestonePhoto]  # oldest first
    proposal_photos: list         # the proposal's own photos (served by the proposals feature)
    spending: list[SpendingEntry]
    spent_fen: int
    acceptance: Acceptance | None
    rating: RatingSummary


def project_story(session, project: Project) -> ProjectStory:
    """Everything the project page shows: vote result, timeline, photos, spending, rating."""
    cycle = project.cycle
    ballot = session.execute(
        select(Project.id, Project.votes).where(
            Project.cycle_id == cycle.id, Project.status.in_(("on_ballot", "not_funded") + PROGRESS))
    ).all()
    ranked = sorted(ballot, key=lambda row: -(row.votes or 0))
    rank = next((i for i, row in enumerate(ranked, start=1) if row.id == project.id), None)
    milestones = list(session.scalars(
        select(Milestone).where(Milestone.project_id == project.id).options(selectinload(Milestone.photos))
        .order_by(Milestone.happened_on, Milestone.id)
    ))
    changes = {c.to_status: c for c in session.scalars(
        select(ProgressChange).where(ProgressChange.project_id == project.id))}
    acceptance = session.scalar(select(Acceptance).where(Acceptance.project_id == project.id))
    events = [Event(funded_on(project), "funded")]
    if "in_progress" in changes:
        events.append(Event(local_date(changes["in_progress"].changed_at), "started"))
    events += [Event(m.happened_on, "milestone", m.text, tuple(m.photos)) for m in milestones]
    if project.completed_at:
        events.append(Event(local_date(project.completed_at), "completed"))
    if acceptance:
        events.append(Event(acceptance.accepted_on, "accepted", acceptance.remarks))
    elif project.accepted_at:
        events.append(Event(local_date(project.accepted_at), "accepted"))
    order = {"funded": 0, "started": 1, "milestone": 2, "completed": 3, "accepted": 4}
    events.sort(key=lambda e: (e.day, order[e.kind]))
    spending = list(session.scalars(
        select(SpendingEntry).where(SpendingEntry.project_id == project.id)
        .order_by(SpendingEntry.spent_on, SpendingEntry.id)))
    return ProjectStory(
        project=project, community=cycle.community, rank=rank, on_ballot=len(ballot), events=events,
        photos=[p for m in milestones for p in m.photos], spending=spending,
        proposal_photos=list(session.scalars(
            select(ProjectPhoto).where(ProjectPhoto.project_id == project.id).order_by(ProjectPhoto.id))),
        spent_fen=sum(e.amount_fen for e in spending), acceptance=acceptance,
        rating=rating_summary(session, project),
    )


def rating_summary(session, project: Project) -> RatingSummary:
    ratings = list(session.scalars(
        select(ProjectRating).where(ProjectRating.project_id == project.id).order_by(ProjectRating.id.desc())))
    histogram = {score: 0 for score in range(5, 0, -1)}
    for r in ratings:
        histogram[r.score] += 1
    average = round(sum(r.score for r in ratings) / len(ratings), 1) if ratings else None
    return RatingSummary(len(ratings), average, histogram, [r for r in ratings if r.comment])


# --- The ledger ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectMoney:
    project: Project
    spent_fen: int
    committed_fen: int


@dataclass(frozen=True)
class Ledger:
    """A community-year's fund: allocated to projects, committed (allocated, not yet paid, until
    acceptance settles the account), spent, and what remains free."""

    cycle: Cycle
    projects: list[ProjectMoney]
    entries: list[SpendingEntry]
    approvals: list[FundApproval]

    @property
    def fund_fen(self) -> int:
        return self.cycle.fund_fen

    @property
    def approved_fen(self) -> int:
        return sum(a.amount_fen for a in self.approvals)

    @property
    def allocated_fen(self) -> int:
        return sum(p.project.cost_fen or 0 for p in self.projects)

    @property
    def spent_fen(self) -> int:
        return sum(p.spent_fen for p in self.projects)

    @property
    def committed_fen(self) -> int:
        return sum(p.committed_fen for p in self.projects)

    @property
    def remaining_fen(self) -> int:
        """Neither spent nor committed to a project."""
        return self.fund_fen - self.spent_fen - self.committed_fen

    @property
    def unspent_fen(self) -> int:
        """Still in the fund's account."""
        return self.fund_fen - self.spent_fen

    @property
    def limit_fen(self) -> int:
        return self.fund_fen + self.approved_fen

    def share(self, fen: int) -> float:
        """`fen` as a percentage of the larger of the fund and what was spent and committed (for bars)."""
        scale = max(self.fund_fen, self.spent_fen + self.committed_fen, 1)
        return round(100 * max(fen, 0) / scale, 2)


def get_ledger_cycle(session, community: Community, year: int) -> Cycle:
    """:raises NotFound: when the community has no cycle that year."""
    cycle = session.scalar(select(Cycle).where(Cycle.community_id == community.id, Cycle.year == year))
    if cycle is None:
        raise NotFound(_("%(community)s has no cycle in %(year)d.", community=community.name, year=year),
                       "unknown_cycle")
    return cycle


def ledger(session, cycle: Cycle) -> Ledger:
    projects = list(session.scalars(
        select(Project).where(Project.cycle_id == cycle.id, Project.status.in_(PROGRESS)).order_by(Project.id)))
    entries = list(session.scalars(
        select(SpendingEntry).join(Project).where(Project.cycle_id == cycle.id)
        .options(selectinload(SpendingEntry.project)).order_by(SpendingEntry.spent_on, SpendingEntry.id)))
    approvals = list(session.scalars(
        select(FundApproval).where(FundApproval.cycle_id == cycle.id).options(selectinload(FundApproval.approved_by))
        .order_by(FundApproval.id)))
    spent = defaultdict(int)
    for entry in entries:
        spent[entry.project_id] += entry.amount_fen
    money = [
        ProjectMoney(p, spent[p.id], 0 if p.status == "accepted" else max((p.cost_fen or 0) - spent[p.id], 0))
        for p in projects
    ]
    return Ledger(cycle, money, entries, approvals)


def community_ledgers(session, community: Community) -> list[Ledger]:
    """Every cycle of the community that funded projects, newest first."""
    cycles = session.scalars(select(Cycle).where(Cycle.community_id == community.id).order_by(Cycle.year.desc()))
    return [led for led in (ledger(session, c) for c in cycles) if led.projects]


def _cycle_spent(session, cycle_id: int) -> int:
    return session.scalar(
        select(func.coalesce(func.sum(SpendingEntry.amount_fen), 0)).join(Project)
        .where(Project.cycle_id == cycle_id)) or 0


# --- The archive -----------------------------------------------------------------------------------

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
    rows = []
    for project, year, community, sub in results:
        total, n = ratings.get(project.id, (0, 0))
        rows.append(ArchiveRow(project, year, community, sub, int(spent.get(project.id) or 0),
                               round(total / n, 1) if n else None, n,
                               accepted.get(project.id) or (local_date(project.accepted_at) if project.accepted_at
                                                            else None)))
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


def archive_choices(session) -> dict:
    """What the filters offer: sub-districts with their communities, the years, the categories."""
    subs = list(session.scalars(
        select(SubDistrict).options(selectinload(SubDistrict.communities)).order_by(SubDistrict.code)))
    years = list(session.scalars(
        select(Cycle.year).join(Project, Project.cycle_id == Cycle.id)
        .where(Project.status.in_(PROGRESS)).distinct().order_by(Cycle.year.desc())))
    return {"sub_districts": subs, "years": years, "categories": CATEGORIES}


# --- The API list ----------------------------------------------------------------------------------

def api_projects(session, status: str | None, community: str | None, year: str | None, page: str | None):
    """SPEC §5 GET /api/v1/projects: validate the filters, return (total, rows of one page).

    :raises Invalid: `bad_status`, `unknown_community`, `bad_year`, `bad_page` (422).
    """
    statuses = PROGRESS
    if status not in (None, ""):
        if status not in API_STATUSES:
            raise Invalid(_("status must be one of: %(values)s.", values=", ".join(API_STATUSES)), "bad_status")
        statuses = API_STATUSES[status]
    stmt = (select(Project, Cycle.year, Community.code).join(Cycle, Project.cycle_id == Cycle.id)
            .join(Community, Cycle.community_id == Community.id).where(Project.status.in_(statuses)))
    if community not in (None, ""):
        if not session.scalar(select(Community.id).where(Community.code == community)):
            raise Invalid(_("There is no community with code '%(code)s'.", code=community), "unknown_community")
        stmt = stmt.where(Community.code == community)
    if year not in (None, ""):
        if not (year.isascii() and year.isdigit() and len(year) == 4):
            raise Invalid(_("year must be a four-digit year such as 2021."), "bad_year")
        stmt = stmt.where(Cycle.year == int(year))
    number = 1
    if page not in (None, ""):
        if not (page.isascii() and page.isdigit() and 1 <= int(page) <= 1_000_000):
            raise Invalid(_("page must be a whole number from 1."), "bad_page")
        number = int(page)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(Project.id).limit(API_PAGE_SIZE).offset((number - 1) * API_PAGE_SIZE)).all()
    return total, rows


# --- The dashboard ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FundUse:
    community: Community
    fund_fen: int
    allocated_fen: int
    spent_fen: int

    @property
    def percent(self) -> float:
        return round(100 * self.spent_fen / self.fund_fen, 1) if self.fund_fen else 0.0


@dataclass(frozen=True)
class Turnout:
    cycle: Cycle
    voted: int
    residents: int

    @property
    def percent(self) -> float:
        return round(100 * self.voted / self.residents, 1) if self.residents else 0.0


@dataclass(frozen=True)
class Dashboard:
    per_year: list[tuple[int, int]]
    per_category: list[tuple[str, int]]
    fund_use: list[FundUse]
    fund_year: int | None
    fund_years: list[int]
    turnout: list[Turnout]
    spent_fen: int

    @property
    def completed(self) -> int:
        return sum(n for _year, n in self.per_year)


def dashboard(session, fund_year: int | None = None) -> Dashboard:
    """Completed projects per year and category, fund use per community, turnout per cycle."""
    done = (select(Cycle.year, Project.category).join(Project, Project.cycle_id == Cycle.id)
            .where(Project.status.in_(DONE)).subquery())
    per_year = [tuple(r) for r in session.execute(
        select(done.c.year, func.count()).group_by(done.c.year).order_by(done.c.year)).all()]
    per_category = sorted((tuple(r) for r in session.execute(
        select(done.c.category, func.count()).group_by(done.c.category)).all()), key=lambda r: (-r[1], r[0]))

    funded_cycles = select(Cycle).where(Cycle.id.in_(
        select(Project.cycle_id).where(Project.status.in_(PROGRESS))))
    fund_years = sorted({c.year for c in session.scalars(funded_cycles)}, reverse=True)
    if fund_year is not None:
        funded_cycles = funded_cycles.where(Cycle.year == fund_year)
    cycles = list(session.scalars(funded_cycles))
    ids = [c.id for c in cycles]
    allocated = defaultdict(int)
    spent = defaultdict(int)
    if ids:
        for cycle_id, total in session.execute(
                select(Project.cycle_id, func.sum(Project.cost_fen))
                .where(Project.cycle_id.in_(ids), Project.status.in_(PROGRESS)).group_by(Project.cycle_id)):
            allocated[cycle_id] = int(total or 0)
        for cycle_id, total in session.execute(
                select(Project.cycle_id, func.sum(SpendingEntry.amount_fen)).join(Project)
                .where(Project.cycle_id.in_(ids)).group_by(Project.cycle_id)):
            spent[cycle_id] = int(total or 0)
    per_community: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for c in cycles:
        row = per_community[c.community_id]
        row[0] += c.fund_fen
        row[1] += allocated[c.id]
        row[2] += spent[c.id]
    communities = {c.id: c for c in session.scalars(
        select(Community).options(selectinload(Community.sub_district)).order_by(Community.code))}
    fund_use = [FundUse(communities[cid], *per_community[cid]) for cid in sorted(
        per_community, key=lambda cid: communities[cid].code)]

    voted = session.execute(
        select(RollEntry.cycle_id, func.count(RollEntry.id).filter(RollEntry.has_voted))
        .group_by(RollEntry.cycle_id)).all()
    turnout = []
    if voted:
        roll_cycles = {c.id: c for c in session.scalars(
            select(Cycle).where(Cycle.id.in_([cid for cid, _n in voted]))
            .options(selectinload(Cycle.community)))}
        active = dict(session.execute(
            select(Resident.community_id, func.count()).where(Resident.status == "active")
            .group_by(Resident.community_id)).all())
        turnout = sorted(
            (Turnout(roll_cycles[cid], n or 0, active.get(roll_cycles[cid].community_id, 0)) for cid, n in voted),
            key=lambda t: (-t.cycle.year, t.cycle.community.code))
    spent_total = session.scalar(select(func.coalesce(func.sum(SpendingEntry.amount_fen), 0))) or 0
    return Dashboard(per_year, per_category, fund_use, fund_year, fund_years, turnout, int(spent_total))


# --- helpers ---------------------------------------------------------------------------------------

def _now() -> datetime:
    return utcnow()


def _status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))
