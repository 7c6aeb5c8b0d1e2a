from flask import jsonify, request, url_for
from flask_babel import lazy_gettext as _l
from pydantic import ConfigDict, Field, RootModel

from ..accounts.access import acting_user, public, require_roles
from ..accounts.policy import can_see_photos, is_author
from ..api import bp
from ..api.schema import MAX_ID, Answer, Body, Moment, Upload, Yuan, answers, choice, money, request_body, text, validate, whole
from ..cycles import services as cycle_service
from ..cycles.api import Category, iso
from ..database import transactional
from ..enums import ProjectStatus, Role
from ..extensions import db
from ..money import yuan
from .forms import read_uploads
from .models import CATEGORIES, Project
from .photos import MAX_PHOTOS
from .services import (
    DECISIONS, DESCRIPTION_LENGTH, LOCATION_LENGTH, REASON_LENGTH, TITLE_LENGTH, add_photos, cycle_proposals,
    get_project, my_proposals, review_proposal, submit_proposal,
)

CATEGORY = choice(_l("The category"), CATEGORIES, "unknown_category")


class ProposalIn(Body):
    """A resident's or staff member's proposal."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "更换3号楼路灯", "description": "3号楼前的路灯坏了两年，晚上老人出门不安全。",
        "category": "lighting", "estimated_cost": "12000.00", "location": "3号楼前"}]})

    title: text(_l("The title"), TITLE_LENGTH)
    description: text(_l("The description"), DESCRIPTION_LENGTH)
    category: CATEGORY
    estimated_cost: money(_l("The estimated cost"))
    location: text(_l("The location"), LOCATION_LENGTH, required=False) = None


class ProposalCreated(Answer):
    id: int
    status: ProjectStatus


class ReviewIn(Body):
    """A review's decision: `ballot` (at `cost`, by default the estimate), `reject` (with a public
    `reason`) or `merge` (into the proposal `into`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "ballot", "cost": "11500.00"},
        {"decision": "reject", "reason": "该路段属于市政道路，不在社区范围。"},
        {"decision": "merge", "into": 12, "reason": "与第12号提案重复。"}]})

    decision: choice(_l("The decision"), DECISIONS, "unknown_decision")
    reason: text(_l("The reason"), REASON_LENGTH, required=False) = None
    cost: money(_l("The reviewed cost"), required=False) = None
    into: whole(_l("The proposal to merge into"), 1, MAX_ID, required=False) = None


class PhotosIn(Body):
    """Photos of one's own proposal, as multipart/form-data files in the field `photos`."""

    photos: list[Upload] = Field(description=f"Image files; at most {MAX_PHOTOS} per proposal in all.")


class Proposal(Answer):
    id: int
    cycle: int
    title: str
    description: str
    category: Category
    location: str | None
    estimated_cost: Yuan
    cost: Yuan | None
    status: ProjectStatus
    reason: str | None
    merged_into: int | None
    submitted_at: Moment | None
    reviewed_at: Moment | None
    mine: bool
    photos: list[str]


class Proposals(RootModel[list[Proposal]]):
    pass


def proposal_json(project: Project, user) -> dict:
    """A proposal as the API shows it; photos only to those who may see them."""
    return {
        "id": project.id, "cycle": project.cycle_id, "title": project.title,
        "description": project.description,
        "category": project.category, "location": project.location,
        "estimated_cost": yuan(project.estimated_cost_fen),
        "cost": yuan(project.cost_fen) if project.cost_fen is not None else None,
        "status": project.status, "reason": project.review_reason, "merged_into": project.merged_into_id,
        "submitted_at": iso(project.submitted_at), "reviewed_at": iso(project.reviewed_at),
        "mine": is_author(user, project),
        "photos": [url_for("proposals.photo", filename=p.filename) for p in project.photos]
        if can_see_photos(user, project) else [],
    }


@bp.post("/cycles/<int:cycle_id>/proposals")
@require_roles(Role.RESIDENT, Role.STAFF)
@validate(json=ProposalIn, resp=answers(201, ProposalCreated, 409))
@transactional
def submit(cycle_id):
    """Propose a project during collection: {title, description, category, estimated_cost, location?}."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    project = submit_proposal(db.session, acting_user(), cycle, request_body(ProposalIn).model_dump(), uploads=[])
    return jsonify(id=project.id, status=project.status), 201


@bp.get("/cycles/<int:cycle_id>/proposals")
@public
@validate(resp=answers(200, Proposals))
def proposals_of_cycle(cycle_id):
    """A cycle's proposals: the decided ones (with public reasons) and one's own; all for its staff."""
    user = acting_user()
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    return jsonify([proposal_json(p, user) for p in cycle_proposals(db.session, cycle, user)])


@bp.get("/me/proposals")
@require_roles(Role.RESIDENT, Role.STAFF)
@validate(resp=answers(200, Proposals))
def my_proposals_json():
    """The caller's own proposals, newest first, with their status and any public reason."""
    user = acting_user()
    return jsonify([proposal_json(p, user) for p in my_proposals(db.session, user)])


@bp.post("/proposals/<int:project_id>/photos")
@require_roles(Role.RESIDENT, Role.STAFF)
@validate(form=PhotosIn, resp=answers(201, Proposal, 409))
@transactional
def upload_photos(project_id):
    """Add photos (multipart field `photos`) to one's own proposal during collection."""
    user = acting_user()
    project = get_project(db.session, project_id)
    add_photos(db.session, user, project, read_uploads(request.files.getlist("photos")))
    return jsonify(proposal_json(project, user)), 201


@bp.post("/proposals/<int:project_id>/review")
@require_roles(Role.STAFF)
@validate(json=ReviewIn, resp=answers(200, Proposal, 409))
@transactional
def review(project_id):
    """Review a proposal: {"decision": "ballot"|"reject"|"merge", "reason", "cost"?, "into"?}."""
    user = acting_user()
    body = request_body(ReviewIn)
    project = review_proposal(db.session, user, get_project(db.session, project_id), body.decision,
                              reason=body.reason, cost=body.cost, into=body.into)
    return jsonify(proposal_json(project, user))
