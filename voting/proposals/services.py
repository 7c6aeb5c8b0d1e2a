"""Proposals: residents and staff submit them during collection; staff review them (on the ballot
with a reviewed cost, rejected with a public reason, or merged into a duplicate)."""
from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import selectinload

from ..accounts.policy import (
    can_oversee, has_proposal_limit, is_author, require_photos_visible, require_proposer, require_staff_of,
    require_visible,
)
from ..cycles import services as cycle_service  # a module: cycles.services imports our models
from ..cycles.models import Cycle
from ..validation import MAX_INTEGER, InvalidField, int_value, money_value, text_value
from ..database import utcnow
from ..enums import Phase, ProjectStatus
from ..errors import Conflict, Forbidden, NotFound
from .models import CATEGORIES, DECIDED_STATUSES, Project, ProjectPhoto
from .photos import MAX_PHOTOS, process_photo, store_photo

TITLE_LENGTH = 120
DESCRIPTION_LENGTH = 4000
LOCATION_LENGTH = 200
REASON_LENGTH = 500
MAX_PROPOSALS_PER_RESIDENT = 10  # per cycle; staff entering paper proposals are not limited
DECISIONS = ("ballot", "reject", "merge")
REVIEWABLE = ("submitted", "on_ballot", "rejected", "merged")


def get_project(session, project_id: int) -> Project:
    """:raises NotFound: when there is no such proposal."""
    project = session.get(Project, project_id)
    if project is None:
        raise NotFound(_("There is no proposal %(id)s.", id=project_id), "unknown_proposal")
    return project


def project_for_review(session, user, project_id: int) -> Project:
    """The proposal, for the staff of its community to review.

    :raises NotFound: when there is no such proposal. :raises Forbidden: unless staff of its community.
    """
    project = get_project(session, project_id)
    require_staff_of(user, project.cycle.community_id)
    return project


def visible_project(session, user, project_id: int) -> Project:
    """The proposal, if this user may see it.

    :raises NotFound: when there is no such proposal; :raises Unauthorized, Forbidden: see `require_visible`.
    """
    project = get_project(session, project_id)
    require_visible(user, project)
    return project


def cycle_to_propose_in(session, user, cycle_id: int, now: datetime | None = None) -> Cycle:
    """The cycle, if this user may propose in it now.

    :raises NotFound: when there is no such cycle; :raises Forbidden, Conflict: see `require_proposer`.
    """
    cycle = cycle_service.get_cycle(session, cycle_id)
    require_proposer(user, cycle, now)
    return cycle


def submit_proposal(session, user, cycle: Cycle, values: dict, uploads: list[tuple[str, bytes]],
                    now: datetime | None = None) -> Project:
    """Record a proposal with its photos (each `(file name, bytes)`), all or nothing.

    :raises Forbidden, Conflict: see `require_proposer`; `too_many_proposals` past the limit.
    :raises InvalidField: for a missing or over-long text, an unknown category, a cost that is not
        an amount above zero and within the fund, more than MAX_PHOTOS photos or one that is not
        a readable photo within the limits.
    """
    now = now or utcnow()
    require_proposer(user, cycle, now)
    fields = clean_proposal(values, cycle)
    photos = _processed(uploads, already=0)
    if has_proposal_limit(user):
        count = session.scalar(select(func.count()).select_from(Project)
                               .where(Project.cycle_id == cycle.id, Project.submitted_by_id == user.id))
        if count >= MAX_PROPOSALS_PER_RESIDENT:
            raise Conflict(_("You have made %(n)d proposals in this cycle, the most one resident may make.",
                             n=count), "too_many_proposals")
    project = Project(cycle_id=cycle.id, status=ProjectStatus.SUBMITTED, submitted_by_id=user.id, submitted_at=now,
                      **fields)
    session.add(project)
    session.flush()
    _attach(session, user, project, photos)
    return project


def clean_proposal(values: dict, cycle: Cycle) -> dict:
    """The proposal's fields from raw values.

    :raises InvalidField: see `submit_proposal`.
    """
    title = text_value(values.get("title"), "title", _("The title"), max_length=TITLE_LENGTH)
    description = text_value(values.get("description"), "description", _("The description"),
                             max_length=DESCRIPTION_LENGTH)
    category = values.get("category")
    if category not in CATEGORIES:
        raise InvalidField("category", _("Choose one of the categories."), "unknown_category")
    location = text_value(values.get("location"), "location", _("The location"), max_length=LOCATION_LENGTH,
                          required=False)
    cost = money_value(values.get("estimated_cost"), "estimated_cost", _("The estimated cost"),
                       fund_fen=cycle.fund_fen)
    return {"title": title, "description": description, "category": category, "location": location,
            "estimated_cost_fen": cost}


def add_photos(session, user, project: Project, uploads: list[tuple[str, bytes]],
               now: datetime | None = None) -> list[ProjectPhoto]:
    """Add photos to one's own proposal while the cycle is collecting.

    :raises Forbidden: `not_author` for anyone but the author.
    :raises Conflict: `not_collecting` outside collection.
    :raises InvalidField: as for `submit_proposal`, counting the photos it already has.
    """
    if not is_author(user, project):
        raise Forbidden(_("Only the author may add photos to a proposal."), "not_author")
    require_proposer(user, project.cycle, now)
    if not uploads:
        raise InvalidField("photos", _("Choose at least one photo."), "missing_photos")
    photos = _processed(uploads, already=len(project.photos))
    return _attach(session, user, project, photos)


def _processed(uploads: list[tuple[str, bytes]], already: int):
    if already + len(uploads) > MAX_PHOTOS:
        raise InvalidField("photos", _("A proposal may have at most %(n)d photos.", n=MAX_PHOTOS),
                           "too_many_photos")
    return [process_photo(raw, name) for name, raw in uploads]


def _attach(session, user, project: Project, photos) -> list[ProjectPhoto]:
    rows = []
    for photo in photos:
        row = ProjectPhoto(filename=store_photo(session, photo), width=photo.width, height=photo.height,
                           uploaded_by_id=user.id)
        project.photos.append(row)
        rows.append(row)
    session.flush()
    return rows


def review_proposal(session, user, project: Project, decision, reason=None, cost=None, into=None,
                    now: datetime | None = None) -> Project:
    """Decide on a proposal during review: `ballot` (at the reviewed cost, by default the estimate),
    `reject` (with a reason shown publicly) or `merge` (into the proposal `into`, a duplicate).

    :raises Forbidden: unless staff of the community.
    :raises Conflict: `not_in_review` outside review; `not_reviewable` after the vote;
        `not_ready` when the vote is scheduled and the change would leave it without a ballot.
    :raises InvalidField: `unknown_decision`, `missing_reason`, the cost's codes, `bad_merge`.
    """
    now = now or utcnow()
    cycle = project.cycle
    require_staff_of(user, cycle.community_id)
    if cycle.current_phase(now) != Phase.REVIEW:
        raise Conflict(_("Proposals are reviewed only while the cycle is under review."), "not_in_review")
    if project.status not in REVIEWABLE:
        raise Conflict(_("This project has been voted on; its review cannot change."), "not_reviewable")
    if decision not in DECISIONS:
        raise InvalidField("decision", _("Choose a decision: put on the ballot, reject or merge."),
                           "unknown_decision")
    reason = text_value(reason, "reason", _("The reason"), max_length=REASON_LENGTH,
                        required=decision == "reject")
    if decision == "ballot":
        has_cost = cost is not None and not (isinstance(cost, str) and not cost.strip())
        project.cost_fen = (money_value(cost, "cost", _("The reviewed cost"), fund_fen=cycle.fund_fen)
                            if has_cost else project.estimated_cost_fen)
        project.status, project.merged_into_id = "on_ballot", None
    elif decision == "reject":
        project.status, project.cost_fen, project.merged_into_id = "rejected", None, None
    else:
        target = _merge_target(session, project, into)
        for duplicate in session.scalars(select(Project).where(Project.merged_into_id == project.id)):
            duplicate.merged_into_id = target.id  # keep merges one step deep
        project.status, project.cost_fen, project.merged_into_id = "merged", None, target.id
    project.review_reason = reason
    project.reviewed_by_id, project.reviewed_at = user.id, now
    session.flush()
    cycle_service.log_staff_action(
        session, user, "proposal.review", cycle.community, proposal=project.id, decision=decision,
        cost=project.cost_fen, merged_into=project.merged_into_id, **({"reason": reason} if reason else {}),
    )
    if cycle.phase == Phase.VOTING:  # the vote is scheduled: it must still have a ballot to open with
        cycle_service.require_ready_to_vote(session, cycle, now)
    return project


def _merge_target(session, project: Project, into) -> Project:
    target_id = int_value(into, "into", _("The proposal to merge into"), minimum=1, maximum=MAX_INTEGER)
    target = session.get(Project, target_id)
    if target is None or target.cycle_id != project.cycle_id or target.id == project.id:
        raise InvalidField("into", _("Merge into another proposal of the same cycle."), "bad_merge")
    if target.status not in ("submitted", "on_ballot"):
        raise InvalidField("into", _("Merge only into a proposal that is awaiting review or on the ballot."),
                           "bad_merge")
    return target


def my_proposals(session, user) -> list[Project]:
    """The user's own proposals, newest first."""
    return list(session.scalars(
        select(Project).where(Project.submitted_by_id == user.id)
        .options(selectinload(Project.photos), selectinload(Project.cycle).selectinload(Cycle.community),
                 selectinload(Project.merged_into))
        .order_by(Project.submitted_at.desc(), Project.id.desc())
    ))


def collecting_cycle(session, community_id: int | None, now: datetime | None = None) -> Cycle | None:
    """The community's cycle that is collecting proposals now, if any."""
    if community_id is None:
        return None
    now = now or utcnow()
    cycles = session.scalars(select(Cycle).order_by(Cycle.year.desc())
                             .where(Cycle.community_id == community_id, Cycle.phase == Phase.COLLECTION))
    return next((c for c in cycles if c.current_phase(now) == Phase.COLLECTION), None)


def cycle_proposals(session, cycle: Cycle, user=None) -> list[Project]:
    """The proposals of a cycle the user may see: all for its staff and the district admin; else
    the decided ones and the user's own."""
    stmt = (select(Project).where(Project.cycle_id == cycle.id)
            .options(selectinload(Project.photos), selectinload(Project.merged_into)).order_by(Project.id))
    if not (user is not None and can_oversee(user, cycle.community_id)):
        mine = Project.submitted_by_id == user.id if user is not None and user.is_authenticated else false()
        stmt = stmt.where(or_(Project.status.in_(DECIDED_STATUSES), mine))
    return list(session.scalars(stmt))


def awaiting_review(session, cycle: Cycle) -> int:
    """How many proposals of the cycle await review (shown publicly as a count only)."""
    return session.scalar(select(func.count()).select_from(Project)
                          .where(Project.cycle_id == cycle.id, Project.status == ProjectStatus.SUBMITTED)) or 0


def photo_for(session, user, filename: str) -> Project:
    """The project of the photo `filename`, if this user may see the photo.

    :raises NotFound: for an unknown name; :raises Unauthorized, Forbidden: when not visible.
    """
    photo = session.scalar(select(ProjectPhoto).where(ProjectPhoto.filename == filename))
    if photo is None:
        raise NotFound(_("There is no such photo."), "unknown_photo")
    project = session.get(Project, photo.project_id)
    require_photos_visible(user, project)
    return project
