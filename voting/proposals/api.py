from flask import jsonify, request, url_for

from ..accounts.access import acting_user, public, require_roles
from ..accounts.policy import can_see_photos, is_author
from ..api import bp, json_body
from ..cycles import services as cycle_service
from ..cycles.api import iso
from ..database import transactional
from ..enums import Role
from ..extensions import db
from ..money import yuan
from .forms import read_uploads
from .models import Project
from .services import (
    add_photos, cycle_proposals, get_project, my_proposals, review_proposal, submit_proposal,
)


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
@transactional
def submit(cycle_id):
    """Propose a project during collection: {title, description, category, estimated_cost, location?}."""
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    project = submit_proposal(db.session, acting_user(), cycle, json_body(), uploads=[])
    return jsonify(id=project.id, status=project.status), 201


@bp.get("/cycles/<int:cycle_id>/proposals")
@public
def proposals_of_cycle(cycle_id):
    """A cycle's proposals: the decided ones (with public reasons) and one's own; all for its staff."""
    user = acting_user()
    cycle = cycle_service.get_cycle(db.session, cycle_id)
    return jsonify([proposal_json(p, user) for p in cycle_proposals(db.session, cycle, user)])


@bp.get("/me/proposals")
@require_roles(Role.RESIDENT, Role.STAFF)
def my_proposals_json():
    """The caller's own proposals, newest first, with their status and any public reason."""
    user = acting_user()
    return jsonify([proposal_json(p, user) for p in my_proposals(db.session, user)])


@bp.post("/proposals/<int:project_id>/photos")
@require_roles(Role.RESIDENT, Role.STAFF)
@transactional
def upload_photos(project_id):
    """Add photos (multipart field `photos`) to one's own proposal during collection."""
    user = acting_user()
    project = get_project(db.session, project_id)
    add_photos(db.session, user, project, read_uploads(request.files.getlist("photos")))
    return jsonify(proposal_json(project, user)), 201


@bp.post("/proposals/<int:project_id>/review")
@require_roles(Role.STAFF)
@transactional
def review(project_id):
    """Review a proposal: {"decision": "ballot"|"reject"|"merge", "reason", "cost"?, "into"?}."""
    user = acting_user()
    body = json_body()
    project = review_proposal(db.session, user, get_project(db.session, project_id), body.get("decision"),
                              reason=body.get("reason"), cost=body.get("cost"), into=body.get("into"))
    return jsonify(proposal_json(project, user))
