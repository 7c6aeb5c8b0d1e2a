"""Recording a funded project's progress: its status, milestones, spending against the fund and its
reversals, the district admin's approvals beyond a project's voted cost or the year's fund, and
residents' ratings; who may record them.

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
from .ledger import Ledger, ledger
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


def _lock_cycle(session, cycle_id: int) -> Cycle:
    """Lock the cycle's row: payments, reversals and approvals of a year queue there, so two at once
    cannot both fit in the same room."""
    return session.execute(select(Cycle).where(Cycle.id == cycle_id).with_for_update()).scalar_one()


def record_spending(session, user, project: Project, spent_on: date | None, amount_fen: int | None,
                    payee: str | None, note: str | None) -> SpendingEntry:
    """Record money paid for the project out of its year's fund.

    Two limits, read after locking the cycle's row: the project's voted cost (plus what the district
    admin approved beyond it for this project), and the year's fund (plus what the admin approved
    beyond it) against what the year has spent and committed (`ledger`).

    :raises Invalid: `bad_amount` (zero or negative), a missing or wrong date, a missing payee;
        `over_cost` when the project's spending would pass its voted cost and its approvals;
        `over_fund` when the year's spent and committed money would pass the fund and its approvals.
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
    led = ledger(session, _lock_cycle(session, project.cycle_id))
    cycle, money = led.cycle, led.money_of(project.id)
    project_after = money.spent_fen + amount_fen
    if project_after > money.limit_fen:
        raise InvalidField(
            "amount",
            _("This payment would bring the spending on “%(title)s” to ¥%(after)s, beyond the ¥%(limit)s "
              "it may be paid (the cost residents voted for, and any amount the district admin approved "
              "for it). Spending beyond a project's voted cost needs the district admin's approval for "
              "this project first.",
              title=project.title, after=yuan_grouped(project_after), limit=yuan_grouped(money.limit_fen)),
            "over_cost")
    year_after = led.used_fen - money.used_fen + money.used_after(paid_fen=amount_fen)
    if year_after > led.used_fen and year_after > led.limit_fen:
        raise InvalidField(
            "amount",
            _("This payment would bring the %(year)d spending and commitments to ¥%(after)s, beyond the fund "
              "of ¥%(limit)s. Spending beyond the fund needs the district admin's approval first.",
              year=cycle.year, after=yuan_grouped(year_after), limit=yuan_grouped(led.limit_fen)),
            "over_fund")
    entry = SpendingEntry(project_id=project.id, spent_on=spent_on, amount_fen=amount_fen, payee=payee, note=note,
                          approval_id=_approval_used(led, project, project_after, year_after),
                          recorded_by_id=user.id)
    session.add(entry)
    session.flush()
    log_action(session, user, "tracking.spending", cycle.community, project=project.id, entry=entry.id,
               date=spent_on.isoformat(), amount_fen=amount_fen, payee=payee, approval=entry.approval_id)
    return entry


def _approval_used(led: Ledger, project: Project, project_after: int, year_after: int) -> int | None:
    """The approval a payment relies on: the project's latest when it passes the voted cost, else the
    year's latest when the year's spent and committed money passes the fund."""
    if project_after > (project.cost_fen or 0):
        return max(a.id for a in led.approvals if a.project_id == project.id)
    if year_after > led.fund_fen:
        return max((a.id for a in led.approvals if a.project_id is None), default=None)
    return None


def reverse_spending(session, user, project: Project, entry_id: int, reason: str | None) -> SpendingEntry:
    """Cancel a wrong payment of the project by a reversal: a new entry of the opposite amount,
    dated today, linked to the payment, with the reason (logged). Nothing is deleted.

    :raises Invalid: `missing_reason` without a reason (or `too_long`).
    :raises NotFound: `unknown_entry` when the payment is not one of this project's.
    :raises Conflict: `is_reversal` for a reversal; `already_reversed` for a payment reversed before
        (also refused by the database's unique `reverses_id` when two arrive at once); `cycle_closed`.
    """
    _check_open(project)
    reason = text_value(reason, "reason", _("The reason"), max_length=MAX_NOTE, required=True)
    _lock_cycle(session, project.cycle_id)
    payment = session.get(SpendingEntry, entry_id)
    if payment is None or payment.project_id != project.id:
        raise NotFound(_("This project has no payment %(id)s.", id=entry_id), "unknown_entry")
    if payment.reverses_id is not None:
        raise Conflict(_("This entry is itself a reversal; it cannot be reversed. Record the payment again "
                         "if it was right."), "is_reversal")
    already = _("This payment was reversed already; a payment is reversed once.")
    if session.scalar(select(SpendingEntry.id).where(SpendingEntry.reverses_id == payment.id)) is not None:
        raise Conflict(already, "already_reversed")
    reversal = SpendingEntry(project_id=project.id, spent_on=local_today(), amount_fen=-payment.amount_fen,
                             payee=payment.payee, note=reason, reverses_id=payment.id, recorded_by_id=user.id)
    try:
        with session.begin_nested():
            session.add(reversal)
    except IntegrityError:
        raise Conflict(already, "already_reversed") from None
    log_action(session, user, "tracking.reversal", project.cycle.community, project=project.id,
               entry=reversal.id, reverses=payment.id, amount_fen=reversal.amount_fen, reason=reason)
    return reversal


def approve_overrun(session, admin, cycle: Cycle, amount_fen: int | None, reason: str | None,
                    project_id: int | None = None) -> FundApproval:
    """The district admin allows spending beyond a community-year's fund, or (with `project_id`)
    beyond one funded project's voted cost; logged with reason and time.

    An approval for a project commits its amount at once, so it is refused when the year's spent and
    committed money would then pass the fund and the approvals beyond it (approve the year first).

    :raises Forbidden: when the user is not the district admin.
    :raises Invalid: a zero or negative amount, a missing reason; `unknown_project` for a project
        that is not a funded project of this cycle; `over_fund` as above.
    :raises Conflict: when the cycle is closed.
    """
    require_overrun_approver(admin)
    if cycle.phase == Phase.CLOSED:
        raise Conflict(_("The %(year)d cycle is closed; its records are archived and no longer change.",
                         year=cycle.year), "cycle_closed")
    if amount_fen is None or amount_fen <= 0:
        raise InvalidField("amount", _("The amount must be more than zero."), "bad_amount")
    reason = text_value(reason, "reason", _("The reason"), max_length=MAX_REASON, required=True)
    project = None
    if project_id is not None:
        project = session.get(Project, project_id)
        if project is None or project.cycle_id != cycle.id or project.status not in PROGRESS:
            raise InvalidField("project", _("Choose a project this year's vote funded."), "unknown_project")
        led = ledger(session, _lock_cycle(session, cycle.id))
        money = led.money_of(project.id)
        year_after = led.used_fen - money.used_fen + money.used_after(approved_fen=amount_fen)
        if year_after > led.used_fen and year_after > led.limit_fen:
            raise InvalidField(
                "amount",
                _("With this approval the %(year)d spending and commitments would come to ¥%(after)s, beyond "
                  "the fund of ¥%(limit)s. Approve spending beyond the year's fund first.",
                  year=cycle.year, after=yuan_grouped(year_after), limit=yuan_grouped(led.limit_fen)),
                "over_fund")
    approval = FundApproval(cycle_id=cycle.id, project_id=project_id, amount_fen=amount_fen, reason=reason,
                            approved_by_id=admin.id, approved_at=_now())
    session.add(approval)
    session.flush()
    if project is None:
        log_action(session, admin, "tracking.approve_beyond_fund", cycle.community, year=cycle.year,
                   approval=approval.id, amount_fen=amount_fen, reason=reason)
    else:
        log_action(session, admin, "tracking.approve_beyond_cost", cycle.community, year=cycle.year,
                   project=project.id, approval=approval.id, amount_fen=amount_fen, reason=reason)
    return approval


def score_value(value, field: str = "score", label: str = "score") -> int:
    """A rating's score: a whole number (never text or a boolean) from 1 to 5.

    :raises InvalidField: `bad_score`.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 5:
        raise InvalidField(field, _("Choose a score from 1 to 5."), "bad_score")
    return value


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
    score_value(score)
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
