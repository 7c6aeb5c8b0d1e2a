"""JSON routes: the list of funded and completed projects (SPEC §5), a project's story, recording
progress, reversing a wrong payment, the fund ledger and the district admin's approvals."""
from __future__ import annotations

from datetime import date

from flask import jsonify, request, url_for
from flask_babel import gettext as _

from ..accounts.access import acting_user, public, require_roles
from ..api import bp, json_body
from ..database import transactional
from ..enums import Role
from ..extensions import db
from ..geography.services import get_community
from ..money import yuan
from ..validation import MAX_INTEGER, InvalidField, date_value, int_value, text_or_none, yuan_value
from . import photos as photo_files
from .archive import api_projects
from .ledger import Ledger, get_ledger_cycle, ledger as cycle_ledger
from .progress import (
    add_milestone, advance_status, approve_overrun, funded_on, project_for_staff, rate_project, record_spending,
    reverse_spending, tracked_project,
)
from .story import project_story
from .closing import (
    ProjectClosing, carried_in, carry_over, closings, end_project, left_over, next_cycle, open_projects,
    project_closing,
)
from ..cycles.services import get_cycle


def iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def _body() -> dict:
    """The request's fields: a JSON object, or a multipart form (a milestone with photos)."""
    if request.mimetype == "multipart/form-data":
        return request.form.to_dict()
    return json_body()


def _date(body: dict, key: str) -> date | None:
    return date_value(body.get(key), key, key)


def _amount(body: dict, key: str = "amount") -> int:
    return yuan_value(body.get(key), key, key)


def _text(body: dict, key: str) -> str | None:
    return text_or_none(body.get(key), key, key)


def _project_id(body: dict) -> int | None:
    """The optional "project" of an approval: a project's id; absent or null for the year's fund."""
    return int_value(body.get("project"), "project", "project", minimum=1, maximum=MAX_INTEGER, required=False)


def project_item(project, year: int, community_code: str) -> dict:
    return {"id": project.id, "title": project.title, "community": community_code, "year": year,
            "cost": yuan(project.cost_fen or 0), "status": project.status, "votes": project.votes}


@bp.get("/projects")
@public
def projects():
    """Funded and completed projects, 50 per page (page=1, 2, …), with the total; status=completed also matches accepted."""
    args = request.args
    total, rows = api_projects(db.session, args.get("status"), args.get("community"), args.get("year"),
                              args.get("page"))
    return jsonify(total=total, items=[project_item(project, year, code) for project, year, code in rows])


@bp.get("/projects/<int:project_id>")
@public
def project_detail(project_id):
    """A funded project: vote result, timeline, spending, acceptance and rating."""
    project = tracked_project(db.session, project_id)
    story = project_story(db.session, project)
    acceptance = story.acceptance
    return jsonify(
        project_item(project, project.cycle.year, story.community.code)
        | {
            "category": project.category, "funded_on": funded_on(project).isoformat(),
            "completed_at": iso(project.completed_at), "accepted_at": iso(project.accepted_at),
            "spent": yuan(story.spent_fen),
            "milestones": [_milestone(e) for e in story.events if e.kind == "milestone"],
            "timeline": [{"date": e.day.isoformat(), "kind": e.kind, "text": e.text} for e in story.events],
            "spending": [_entry(e) for e in story.spending],
            "acceptance": {"accepted_on": acceptance.accepted_on.isoformat(), "panel": acceptance.panel,
                           "remarks": acceptance.remarks} if acceptance else None,
            "rating": {"count": story.rating.count, "average": story.rating.average},
        }
        | closing_item(project_closing(db.session, project))
    )


def _milestone(event) -> dict:
    return {"date": event.day.isoformat(), "text": event.text,
            "photos": [url_for("tracking.photo", name=p.filename) for p in event.photos]}


def _entry(entry) -> dict:
    """A payment, or a reversal (negative amount, `reverses` the payment, its reason in `note`)."""
    return {"id": entry.id, "date": entry.spent_on.isoformat(), "amount": yuan(entry.amount_fen),
            "payee": entry.payee, "note": entry.note, "approval": entry.approval_id,
            "reverses": entry.reverses_id, "reversed_by": entry.reversal.id if entry.reversal else None}


@bp.post("/projects/<int:project_id>/status")
@require_roles(Role.STAFF)
@transactional
def project_status(project_id):
    """Move the project one step forward: {"status", and for "accepted": "accepted_on", "panel", "remarks"?}."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id, for_update=True)
    body = json_body()
    to_status = body.get("status")
    if not isinstance(to_status, str):
        raise InvalidField("status", _("Send the next status, such as \"in_progress\"."), "bad_status_change")
    advance_status(db.session, user, project, to_status, accepted_on=_date(body, "accepted_on"),
                   panel=_text(body, "panel"), remarks=_text(body, "remarks"))
    return jsonify(id=project.id, status=project.status)


@bp.post("/projects/<int:project_id>/milestones")
@require_roles(Role.STAFF)
@transactional
def project_milestones(project_id):
    """Record a milestone: JSON {"date", "text"}, or a multipart form with the same fields and "photos"."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id)
    body = _body()
    files = []
    for storage in request.files.getlist("photos"):
        if storage and storage.filename:
            storage.stream.seek(0)
            files.append((storage.filename, storage.stream.read(photo_files.MAX_BYTES + 1)))
    milestone = add_milestone(db.session, user, project, _date(body, "date"), _text(body, "text"), files)
    return jsonify(id=milestone.id, date=milestone.happened_on.isoformat(), text=milestone.text,
                   photos=[url_for("tracking.photo", name=p.filename) for p in milestone.photos]), 201


@bp.post("/projects/<int:project_id>/spending")
@require_roles(Role.STAFF)
@transactional
def project_spending(project_id):
    """Record a payment out of the fund: {"date", "amount", "payee", "note"?}; beyond the fund needs approval."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id)
    body = json_body()
    entry = record_spending(db.session, user, project, _date(body, "date"), _amount(body), _text(body, "payee"),
                            _text(body, "note"))
    return jsonify(_entry(entry)), 201


@bp.post("/projects/<int:project_id>/spending/<int:entry_id>/reversal")
@require_roles(Role.STAFF)
@transactional
def spending_reversal(project_id, entry_id):
    """Cancel a wrong payment by a reversing entry: {"reason"}; 409 if reversed already or a reversal."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id)
    entry = reverse_spending(db.session, user, project, entry_id, _text(json_body(), "reason"))
    return jsonify(_entry(entry)), 201


@bp.post("/projects/<int:project_id>/rating")
@require_roles(Role.RESIDENT)
@transactional
def project_rating(project_id):
    """A resident of the community rates the completed project once: {"score": 1–5, "comment"?}."""
    project = tracked_project(db.session, project_id)
    body = json_body()
    rating = rate_project(db.session, acting_user(), project, body.get("score"), _text(body, "comment"))
    return jsonify(score=rating.score, comment=rating.comment), 201


def ledger_body(led: Ledger) -> dict:
    return {
        "community": led.cycle.community.code, "year": led.cycle.year, "fund": yuan(led.fund_fen),
        "approved_beyond_fund": yuan(led.approved_fen), "allocated": yuan(led.allocated_fen),
        "committed": yuan(led.committed_fen), "spent": yuan(led.spent_fen), "remaining": yuan(led.remaining_fen),
        "projects": [{"id": m.project.id, "title": m.project.title, "status": m.project.status,
                      "cost": yuan(m.project.cost_fen or 0), "spent": yuan(m.spent_fen),
                      "committed": yuan(m.committed_fen), "approved_beyond_cost": yuan(m.approved_fen)}
                     for m in led.projects],
        "spending": [_entry(e) | {"project": e.project_id} for e in led.entries],
        "approvals": [{"id": a.id, "project": a.project_id, "amount": yuan(a.amount_fen), "reason": a.reason,
                       "approved_by": a.approved_by.username, "approved_at": iso(a.approved_at)}
                      for a in led.approvals],
    }


@bp.get("/ledger/<code>/<int:year>")
@public
def ledger(code, year):
    """A community-year's fund: allocated, committed, spent, remaining, per project, with approvals."""
    cycle = get_ledger_cycle(db.session, get_community(db.session, code), year)
    led = cycle_ledger(db.session, cycle)
    return jsonify(ledger_body(led) | year_end_body(cycle, [m.project.id for m in led.projects]))


@bp.post("/ledger/<code>/<int:year>/approvals")
@require_roles(Role.ADMIN)
@transactional
def ledger_approval(code, year):
    """The admin allows spending beyond the fund or a project's cost: {"amount", "reason", "project"?}.

    Without "project" the approval is for the year's fund; with it, for that funded project. Logged.
    """
    user = acting_user()
    cycle = get_ledger_cycle(db.session, get_community(db.session, code), year)
    body = json_body()
    approval = approve_overrun(db.session, user, cycle, _amount(body), _text(body, "reason"),
                               _project_id(body))
    return jsonify(id=approval.id, project=approval.project_id, amount=yuan(approval.amount_fen),
                   reason=approval.reason,
                   approved_by=user.username, approved_at=iso(approval.approved_at)), 201


# --- Closing the year ------------------------------------------------------------------------------

def closing_item(closing: ProjectClosing) -> dict:
    """Where the end of its year left a project: carried into a later cycle, ended with a reason."""
    into = closing.carried_into
    ending = closing.ending
    return {"carried_into": {"cycle": into.id, "year": into.year,
                             "carried_at": iso(closing.carries[-1].carried_at)} if into else None,
            "ended": {"reason": ending.reason, "ended_at": iso(ending.ended_at)} if ending else None}


def year_end_body(cycle, project_ids) -> dict:
    """The year's money left over (结余, null until the cycle is closed), the projects carried in from
    earlier years with their remaining money, and where each of its own projects went at the year's end."""
    money = left_over(db.session, [cycle])[cycle.id]
    return {
        "left_over": yuan(money.left_over_fen) if money.is_final else None,
        "committed_to_carried_over": yuan(money.carried_fen) if money.is_final else None,
        "carried_in": [{"id": c.project.id, "title": c.project.title, "from_year": c.carry.from_cycle.year,
                        "status": c.project.status, "cost": yuan(c.project.cost_fen or 0), "spent": yuan(c.spent_fen),
                        "remaining": yuan(c.remaining_fen), "carried_at": iso(c.carry.carried_at)}
                       for c in carried_in(db.session, cycle)],
        "year_end": {str(pid): closing_item(c) for pid, c in closings(db.session, project_ids).items()},
    }


@bp.get("/cycles/<int:cycle_id>/closing")
@public
def cycle_closing(cycle_id):
    """Closing the year: the projects still to carry over or end, the next cycle, the money left over."""
    cycle = get_cycle(db.session, cycle_id)
    waiting = open_projects(db.session, cycle)
    following = next_cycle(db.session, cycle)
    own = [m.project.id for m in cycle_ledger(db.session, cycle).projects]
    return jsonify({"cycle": cycle.id, "community": cycle.community.code, "year": cycle.year, "phase": cycle.phase,
                    "fund": yuan(cycle.fund_fen),
                    "next_cycle": {"id": following.id, "year": following.year} if following else None,
                    "open_projects": [{"id": p.id, "title": p.title, "year": p.cycle.year, "status": p.status,
                                       "cost": yuan(p.cost_fen or 0)} for p in waiting]}
                   | year_end_body(cycle, own))


@bp.post("/projects/<int:project_id>/carry-over")
@require_roles(Role.STAFF)
@transactional
def project_carry_over(project_id):
    """Carry the project (funded, not accepted) over into the community's next cycle: no body. 201."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id)
    carry = carry_over(db.session, user, project)
    return jsonify(id=project.id, from_year=carry.from_cycle.year,
                   carried_into={"cycle": carry.into_cycle_id, "year": carry.into_cycle.year},
                   carried_at=iso(carry.carried_at)), 201


@bp.post("/projects/<int:project_id>/end")
@require_roles(Role.STAFF)
@transactional
def project_end(project_id):
    """End the project (funded, not accepted) with a public reason: {"reason"}. 201."""
    user = acting_user()
    project = project_for_staff(db.session, user, project_id)
    ending = end_project(db.session, user, project, json_body().get("reason"))
    return jsonify(id=project.id, reason=ending.reason, ended_at=iso(ending.ended_at), year=ending.cycle.year), 201
