"""Recording a funded project's progress: its status, milestones, spending against the fund, the
district admin's approvals beyond the fund, and residents' ratings; who may record them.

Services take the session and the acting user, check scope and rules, write, flush and raise
named errors; they never commit.
"""
from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import object_session

from ..accounts.policy import require_manager, require_overrun_approver, require_rater
from ..audit.services import log_action
from ..cycles.models import Cycle
from ..database import utcnow
from ..enums import Phase, ProjectStatus
from ..errors import Conflict, Forbidden, NotFound
from ..format import STATUS_LABELS
from ..money import yuan_grouped
from ..proposals.models import Project
from ..residents.models import Resident
from ..validation import InvalidField, text_value
from . import photos as photo_files
from .closing import holding_cycle, is_ended
from .ledger import cycle_spent
from .models import (
    DONE, PROGRESS, Acceptance, FundApproval, Milestone, MilestonePhoto, ProgressChange, ProjectRating,
    SpendingEntry,
)

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
MAX_TEXT = 1000
MAX_PAYEE = 120
MAX_NOTE = 500
MAX_COMMENT = 500
MAX_REASON = 500
MAX_PANEL = 300


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
    """:raises Conflict: `project_ended` for an ended project; `cycle_closed` when the cycle its work is in
    (its own, or the one it was carried into) is archived."""
    session = object_session(project)
    if is_ended(session, project):
        raise Conflict(_("This project has been ended; its records no longer change."), "project_ended")
    cycle = holding_cycle(session, project)
    if cycle.phase == Phase.CLOSED:
        raise Conflict(_("The %(year)d cycle is closed; its records are archived and no longer change.",
                         year=cycle.year), "cycle_closed")


def _check_day(day: date, project: Project, field_name: str, *, not_before: date | None = None,
               not_before_message: str | None = None) -> None:
    funded = funded_on(project)
    if day > local_today():
        raise InvalidField(field_name, _("The date %(day)s is in the future.", day=day.isoformat()),
                           "date_in_future")
    if day < funded:
        raise InvalidField(field_name, _("The date %(day)s is before the project was funded (%(funded)s).",
                        day=day.isoformat(), funded=funded.isoformat()), "date_before_funding")
    if not_before and day < not_before:
        raise InvalidField(field_name, not_before_message or "", "date_too_early")


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
        raise InvalidField("to_status", message, "bad_status_change")
    now = _now()
    if to_status == ProjectStatus.ACCEPTED:
        if accepted_on is None:
            raise InvalidField("accepted_on", _("Please give the date of the acceptance."), "missing_date")
        completed = local_date(project.completed_at) if project.completed_at else funded_on(project)
        _check_day(accepted_on, project, "accepted_on", not_before=completed,
                   not_before_message=_("The acceptance cannot be before the project was completed (%(day)s).",
                                        day=completed.isoformat()))
        panel = text_value(panel, "panel", _("Who took part"), max_length=MAX_PANEL, required=True)
        remarks = text_value(remarks, "remarks", _("Remarks"), max_length=MAX_TEXT, required=False) or ""
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
        raise InvalidField("happened_on", _("Please give the date of the milestone."), "missing_date")
    _check_day(happened_on, project, "happened_on")
    text = text_value(text, "text", _("What happened"), max_length=MAX_TEXT, required=True)
    if len(photos) > photo_files.MAX_PHOTOS:
        raise InvalidField("photos", _("At most %(n)d photos per milestone.", n=photo_files.MAX_PHOTOS),
                           "too_many_photos")
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
        raise InvalidField("amount", _("The amount must be more than zero."), "bad_amount")
    if spent_on is None:
        raise InvalidField("spent_on", _("Please give the date of the payment."), "missing_date")
    _check_day(spent_on, project, "spent_on")
    payee = text_value(payee, "payee", _("The payee"), max_length=MAX_PAYEE, required=True)
    note = text_value(note, "note", _("The note"), max_length=MAX_NOTE, required=False) or ""
    cycle = session.execute(select(Cycle).where(Cycle.id == project.cycle_id).with_for_update()).scalar_one()
    spent = cycle_spent(session, cycle.id)
    approvals = list(session.scalars(
        select(FundApproval).where(FundApproval.cycle_id == cycle.id).order_by(FundApproval.id)
    ))
    limit = cycle.fund_fen + sum(a.amount_fen for a in approvals)
    after = spent + amount_fen
    if after > limit:
        raise InvalidField(
            "amount",
            _("This payment would bring the %(year)d spending to ¥%(after)s, beyond the fund of ¥%(limit)s. "
              "Spending beyond the fund needs the district admin's approval first.",
              year=cycle.year, after=yuan_grouped(after), limit=yuan_grouped(limit)),
            "over_fund")
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
        raise InvalidField("amount", _("The amount must be more than zero."), "bad_amount")
    reason = text_value(reason, "reason", _("The reason"), max_length=MAX_REASON, required=True)
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
        raise InvalidField("score", _("Choose a score from 1 to 5."), "bad_score")
    comment = text_value(comment, "comment", _("The comment"), max_length=MAX_COMMENT, required=False) or ""
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



# --- helpers ---------------------------------------------------------------------------------------

def _now() -> datetime:
    return utcnow()


def _status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))
