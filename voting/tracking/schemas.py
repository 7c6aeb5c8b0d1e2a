"""The request and answer models of the tracking routes (`api.py`): a project's progress, its money,
the fund ledger, the admin's approvals and closing the year.

Request fields are read by the same readers as the pages (`voting/validation.py`, and the tracking
rules' own readers: `archive.api_*_value`, `progress.score_value`), so a refusal has one code and one
message wherever it comes from; the services read the values again.
"""
from __future__ import annotations

from typing import Literal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from pydantic import ConfigDict
from werkzeug.datastructures import FileStorage

from ..api.schema import MAX_ID, Answer, Body, Day, Moment, Query, Yuan, checked, money, text
from ..cycles.api import Category
from ..enums import Phase, ProjectStatus
from ..validation import InvalidField, date_value, int_value, text_or_none
from . import photos as photo_files
from .archive import API_MAX_PAGE, API_STATUSES, api_page_value, api_status_value, api_year_value
from .closing import MAX_REASON as MAX_ENDING_REASON
from .progress import MAX_COMMENT, MAX_NOTE, MAX_PANEL, MAX_PAYEE, MAX_REASON, MAX_TEXT, score_value

NEXT_STATUSES = [str(s) for s in (ProjectStatus.IN_PROGRESS, ProjectStatus.COMPLETED, ProjectStatus.ACCEPTED)]
DATE_SCHEMA = {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
               "examples": ["2025-05-01"]}

EventKind = Literal["funded", "started", "milestone", "completed", "accepted"]


def _next_status(value, field: str, label: str) -> str:
    """The status to move to, as text; which one is next is the service's rule (`bad_status_change`)."""
    if not isinstance(value, str):
        raise InvalidField(field, _("Send the next status, such as \"in_progress\"."), "bad_status_change")
    return value


def _photo_files(value, field: str, label: str):
    """One uploaded file or several (multipart parts named `photos`); their content is checked by the
    photo pipeline (`not_an_image`, `photo_too_large`), their number by the service (`too_many_photos`)."""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, FileStorage) for item in items):
        raise InvalidField(field, _("%(field)s must be image files sent as parts of a multipart form.",
                                    field=label), "not_an_image")
    return value


def _project_id(value, field: str, label: str) -> int | None:
    return int_value(value, field, label, minimum=1, maximum=MAX_ID, required=False)


DAY = checked(date_value, _l("Date"), DATE_SCHEMA)


# --- Requests --------------------------------------------------------------------------------------

class ProjectsQuery(Query):
    """GET /projects: the filters and the page (each optional; empty counts as absent)."""

    status: checked(api_status_value, _l("The status"), {"type": "string", "enum": list(API_STATUSES)}) = None
    community: checked(text_or_none, _l("The community"), {"type": "string", "maxLength": 32,
                                                           "examples": ["ca"]}) = None
    year: checked(api_year_value, _l("The year"), {"type": "integer", "minimum": 1000, "maximum": 9999,
                                                   "examples": [2021]}) = None
    page: checked(api_page_value, _l("The page"), {"type": "integer", "minimum": 1, "maximum": API_MAX_PAGE,
                                                   "default": 1}) = None


class StatusChange(Body):
    """The next step of a funded project; accepting it takes the acceptance's date and panel."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "in_progress"},
        {"status": "accepted", "accepted_on": "2025-10-20", "panel": "社区两委、居民代表五人", "remarks": "合格"}]})

    status: checked(_next_status, _l("The next status"), {"type": "string", "enum": NEXT_STATUSES})
    accepted_on: checked(date_value, _l("The date of the acceptance"),
                         {**DATE_SCHEMA, "type": ["string", "null"]}) = None
    panel: text(_l("Who took part"), MAX_PANEL, required=False) = None
    remarks: text(_l("Remarks"), MAX_TEXT, required=False) = None


class MilestoneIn(Body):
    """A milestone as JSON (no photos)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"date": "2025-06-18", "text": "主体完工"}]})

    date: DAY
    text: text(_l("What happened"), MAX_TEXT)


class MilestoneForm(Body):
    """A milestone as a multipart form: the same fields, and up to six photos (parts named `photos`)."""

    date: DAY
    text: text(_l("What happened"), MAX_TEXT)
    photos: checked(_photo_files, _l("Photos"), {
        "type": "array", "maxItems": photo_files.MAX_PHOTOS,
        "items": {"type": "string", "format": "binary", "contentMediaType": "image/*"}}) = None


class PaymentIn(Body):
    """A payment out of the fund."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"date": "2025-06-20", "amount": "18000.50", "payee": "湖南某建设公司", "note": "预付款"}]})

    date: DAY
    amount: money(_l("The amount"))
    payee: text(_l("The payee"), MAX_PAYEE)
    note: text(_l("The note"), MAX_NOTE, required=False) = None


class ReversalIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "金额录错，应为 1,800 元"}]})

    reason: text(_l("The reason"), MAX_NOTE)


class RatingIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"score": 5, "comment": "灯很亮"}]})

    score: checked(score_value, _l("The score"), {"type": "integer", "minimum": 1, "maximum": 5})
    comment: text(_l("The comment"), MAX_COMMENT, required=False) = None


class ApprovalIn(Body):
    """Spending beyond the year's fund (without `project`), or beyond one funded project's cost."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"amount": "5000", "reason": "区财政追加"},
        {"amount": "15000.00", "reason": "材料涨价，经区里审定", "project": 42}]})

    amount: money(_l("The amount"))
    reason: text(_l("The reason"), MAX_REASON)
    project: checked(_project_id, _l("The project"), {"type": ["integer", "null"], "minimum": 1,
                                                      "maximum": MAX_ID}) = None


class EndingIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "施工地块被征收，无法继续"}]})

    reason: text(_l("The reason"), MAX_ENDING_REASON)


# --- Answers ---------------------------------------------------------------------------------------

class ProjectItem(Answer):
    id: int
    title: str
    community: str  # its code
    year: int
    cost: Yuan
    status: ProjectStatus
    votes: int | None


class ProjectList(Answer):
    total: int
    items: list[ProjectItem]


class MilestoneItem(Answer):
    date: Day
    text: str
    photos: list[str]  # the photos' addresses on this site


class TimelineEvent(Answer):
    date: Day
    kind: EventKind
    text: str


class SpendingItem(Answer):
    """A payment, or a reversal: a negative amount that `reverses` a payment, its reason in `note`."""

    id: int
    date: Day
    amount: Yuan
    payee: str
    note: str
    approval: int | None      # the admin's approval the payment relied on
    reverses: int | None
    reversed_by: int | None


class AcceptanceItem(Answer):
    accepted_on: Day
    panel: str
    remarks: str


class RatingSummary(Answer):
    count: int
    average: float | None


class CarriedInto(Answer):
    cycle: int
    year: int
    carried_at: Moment


class EndingItem(Answer):
    reason: str
    ended_at: Moment


class YearEnd(Answer):
    """Where the end of its year left a project (both null while it is in its own year's work)."""

    carried_into: CarriedInto | None
    ended: EndingItem | None


class ProjectDetail(ProjectItem, YearEnd):
    category: Category
    funded_on: Day
    completed_at: Moment | None
    accepted_at: Moment | None
    spent: Yuan
    milestones: list[MilestoneItem]
    timeline: list[TimelineEvent]
    spending: list[SpendingItem]
    acceptance: AcceptanceItem | None
    rating: RatingSummary


class StatusChanged(Answer):
    id: int
    status: ProjectStatus


class MilestoneCreated(Answer):
    id: int
    date: Day
    text: str
    photos: list[str]


class RatingCreated(Answer):
    score: int
    comment: str


class LedgerProject(Answer):
    id: int
    title: str
    status: ProjectStatus
    cost: Yuan
    spent: Yuan
    committed: Yuan
    approved_beyond_cost: Yuan


class LedgerEntry(SpendingItem):
    project: int


class ApprovalItem(Answer):
    id: int
    project: int | None  # null: beyond the year's fund
    amount: Yuan
    reason: str
    approved_by: str
    approved_at: Moment


class CarriedIn(Answer):
    """A project of an earlier year carried into this one, with what it may still be paid."""

    id: int
    title: str
    from_year: int
    status: ProjectStatus
    cost: Yuan
    spent: Yuan
    remaining: Yuan
    carried_at: Moment


class YearEndMoney(Answer):
    left_over: Yuan | None                  # 结余: null until the cycle is closed
    committed_to_carried_over: Yuan | None
    carried_in: list[CarriedIn]
    year_end: dict[str, YearEnd]            # by project id


class LedgerAnswer(YearEndMoney):
    community: str
    year: int
    fund: Yuan
    approved_beyond_fund: Yuan
    allocated: Yuan
    committed: Yuan
    spent: Yuan
    remaining: Yuan                         # negative when spending passed what was approved
    projects: list[LedgerProject]
    spending: list[LedgerEntry]
    approvals: list[ApprovalItem]


class NextCycle(Answer):
    id: int
    year: int


class OpenProject(Answer):
    id: int
    title: str
    year: int
    status: ProjectStatus
    cost: Yuan


class CycleClosing(YearEndMoney):
    cycle: int
    community: str
    year: int
    phase: Phase
    fund: Yuan
    next_cycle: NextCycle | None
    open_projects: list[OpenProject]


class CycleYear(Answer):
    cycle: int
    year: int


class CarriedOver(Answer):
    id: int
    from_year: int
    carried_into: CycleYear
    carried_at: Moment


class Ended(Answer):
    id: int
    reason: str
    ended_at: Moment
    year: int

