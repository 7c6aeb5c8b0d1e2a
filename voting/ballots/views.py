"""Ballot pages: voting (phone first, works without JavaScript), the receipt, the public receipt
check, assisted ballots at the door, and assisted ballots per worker per hour. Paper ballots have
their own pages (`paper_views.py`)."""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from werkzeug.routing import BuildError

from ..accounts.access import public, require_roles
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Channel, ProjectStatus, Role
from ..errors import Invalid
from ..extensions import db, limiter
from ..format import qr_svg
from ..proposals.ballot import ballot_projects
from ..residents.models import Resident
from ..webforms import handle_form, refusal
from .casting import CastingCycle, Idempotency, Voter
from .forms import AssistedBallotForm, BallotForm, ReceiptForm, choices_from_form, hidden_choices, selected_choices
from .photos import project_photo_files
from .rules import BallotRules
from .services import (WrongCredential, cast_ballot, check_choices, chosen_projects, confirm_resident, current_ballot,
                       eligible_resident, ensure_voting_open, find_receipt, grid_residents, how_i_voted,
                       resident_of_my_grid, worker_counts)

bp = Blueprint("ballots", __name__)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# --- Online voting -----------------------------------------------------------------------------

@bp.route("/cycles/<int:cycle_id>/vote", methods=["GET", "POST"])
@require_roles(Role.RESIDENT)
def vote(cycle_id):
    """The ballot: projects, limits, running total; POST comes back from the confirm step."""
    cycle = get_cycle(db.session, cycle_id)
    casting, voter = CastingCycle.read(db.session, cycle), Voter.of_account(current_user)
    eligible_resident(db.session, voter, casting)
    ensure_voting_open(cycle.window, utcnow())
    current = current_ballot(db.session, casting, voter)
    if request.method == "POST":
        selected = selected_choices(choices_from_form(request.form, cycle.method))
    else:
        selected = {c.project_id: c.points for c in current.choices} if current else {}
    return _ballot_page(cycle, selected, current=current)


@bp.post("/cycles/<int:cycle_id>/vote/confirm")
@require_roles(Role.RESIDENT)
def confirm(cycle_id):
    """The confirm step: the chosen projects once more, checked, before the ballot is cast."""
    cycle = get_cycle(db.session, cycle_id)
    pairs, form = choices_from_form(request.form, cycle.method), BallotForm()
    return handle_form(
        form, lambda: check_choices(db.session, CastingCycle.read(db.session, cycle), Voter.of_account(current_user),
                                    pairs, utcnow()),
        done=lambda chosen: _confirm_page(cycle, chosen),
        again=lambda status: (_ballot_page(cycle, selected_choices(pairs), error=refusal(form)), status),
        invalid=422)


@bp.post("/cycles/<int:cycle_id>/ballot")
@reads_before_lock
@require_roles(Role.RESIDENT)
@transactional
def cast(cycle_id):
    """Cast (or revise) the signed-in resident's ballot, then show the receipt."""
    cycle = get_cycle(db.session, cycle_id)
    pairs, form = choices_from_form(request.form, cycle.method), BallotForm()
    return handle_form(
        form, lambda: cast_ballot(db.session, CastingCycle.read(db.session, cycle), Voter.of_account(current_user),
                                  pairs, Channel.ONLINE, None, utcnow(), idempotency=_form_idempotency(cycle, pairs)),
        done=lambda _outcome: redirect(url_for("ballots.my_ballot", cycle_id=cycle.id)),
        again=lambda status: (_ballot_page(cycle, selected_choices(pairs), error=refusal(form)), status),
        invalid=422)


@bp.get("/cycles/<int:cycle_id>/my-ballot")
@require_roles(Role.RESIDENT)
def my_ballot(cycle_id):
    """The resident's own current ballot: choices, receipt code and QR code, and how to change it."""
    cycle = get_cycle(db.session, cycle_id)
    ballot = current_ballot(db.session, CastingCycle.read(db.session, cycle), Voter.of_account(current_user))
    chosen = chosen_projects(db.session, ballot) if ballot else []
    channel, worker = how_i_voted(db.session, cycle, current_user) if ballot else (None, None)
    return render_template("ballots/my_ballot.html", cycle=cycle, ballot=ballot, chosen=chosen, channel=channel,
                           worker=worker,
                           qr=_receipt_qr(ballot.receipt) if ballot else None, now=utcnow())


# --- Receipts (public) -------------------------------------------------------------------------

@bp.get("/receipts")
@public
@limiter.limit("60 per minute")
def receipt_check():
    """The public receipt check: is a receipt in the record, and is it the voter's latest?"""
    form = ReceiptForm(request.args)
    ballot = searched = None
    if "code" in request.args and form.validate():
        searched = form.code.data.strip()
        ballot = find_receipt(db.session, searched)
    return render_template("ballots/receipt_check.html", form=form, searched=searched, ballot=ballot,
                           cycle=_cycle_of(ballot))


@bp.get("/receipts/<code>")
@public
@limiter.limit("60 per minute")
def receipt(code):
    """The receipt check for one code (where the receipt's QR code leads)."""
    ballot = find_receipt(db.session, code)
    form = ReceiptForm(data={"code": code})
    return render_template("ballots/receipt_check.html", form=form, searched=code, ballot=ballot,
                           cycle=_cycle_of(ballot))


# --- Assisted ballots --------------------------------------------------------------------------

@bp.get("/cycles/<int:cycle_id>/assist")
@require_roles(Role.GRID_WORKER)
def assist_list(cycle_id):
    """A grid worker's residents, to record an assisted ballot with one of them."""
    cycle = get_cycle(db.session, cycle_id)
    search = request.args.get("q", "")[:40]
    own_community = current_user.community_id == cycle.community_id
    residents = grid_residents(db.session, current_user, cycle, search) if own_community else []
    return render_template("ballots/assist_list.html", cycle=cycle, residents=residents, search=search,
                           now=utcnow())


@bp.route("/cycles/<int:cycle_id>/assist/<int:resident_id>", methods=["GET", "POST"])
@require_roles(Role.GRID_WORKER)
def assist_vote(cycle_id, resident_id):
    """The ballot, filled in together with the resident at the door."""
    cycle = get_cycle(db.session, cycle_id)
    casting = CastingCycle.read(db.session, cycle)
    resident = _assisted_resident(casting, resident_id)
    selected = selected_choices(choices_from_form(request.form, cycle.method)) if request.method == "POST" else {}
    return _ballot_page(cycle, selected, resident=resident)


@bp.post("/cycles/<int:cycle_id>/assist/<int:resident_id>/confirm")
@require_roles(Role.GRID_WORKER)
def assist_confirm(cycle_id, resident_id):
    """The choices once more; the resident confirms with their own password or voting code."""
    cycle = get_cycle(db.session, cycle_id)
    casting = CastingCycle.read(db.session, cycle)
    resident = _assisted_resident(casting, resident_id)
    pairs, form = choices_from_form(request.form, cycle.method), BallotForm()
    return handle_form(
        form, lambda: check_choices(db.session, casting, Voter.of_resident(resident), pairs, utcnow()),
        done=lambda chosen: _confirm_page(cycle, chosen, resident=resident),
        again=lambda status: (_ballot_page(cycle, selected_choices(pairs), resident=resident,
                                           error=refusal(form)), status),
        invalid=422)


@bp.post("/cycles/<int:cycle_id>/assist/<int:resident_id>/ballot")
@reads_before_lock
@require_roles(Role.GRID_WORKER)
@limiter.limit("5 per minute;30 per hour", key_func=lambda: f"assist:{current_user.get_id()}",
               deduct_when=lambda response: response.status_code == 403)
@transactional
def assist_cast(cycle_id, resident_id):
    """Record the assisted ballot once the resident's credential is right; show the receipt."""
    cycle = get_cycle(db.session, cycle_id)
    casting = CastingCycle.read(db.session, cycle)
    resident = _assisted_resident(casting, resident_id)
    pairs = choices_from_form(request.form, cycle.method)
    try:
        chosen = check_choices(db.session, casting, Voter.of_resident(resident), pairs, utcnow())
    except Invalid as error:
        return _ballot_page(cycle, selected_choices(pairs), resident=resident, error=error.message), 422
    form = AssistedBallotForm()

    def record():
        confirm_resident(db.session, resident, form.credential.data)
        return cast_ballot(db.session, casting, Voter.of_resident(resident), pairs, Channel.ASSISTED, current_user,
                           utcnow(), idempotency=_form_idempotency(cycle, pairs, resident.id))

    return handle_form(
        form, record,
        done=lambda outcome: render_template("ballots/assist_done.html", cycle=cycle, resident=resident,
                                             answer=outcome.answer, qr=_receipt_qr(outcome.answer["receipt"])),
        again=lambda status: (_confirm_page(cycle, chosen, resident=resident, form=form, error=refusal(form)),
                              status),
        refusals=(WrongCredential,))  # its 403 counts towards the worker's limit; the cast's go to error pages


@bp.get("/cycles/<int:cycle_id>/assisted")
@require_roles(Role.STAFF, Role.ADMIN, Role.AUDITOR)
def assisted_stats(cycle_id):
    """Assisted and paper ballots per worker (counts only)."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, current_user, cycle)
    return render_template("ballots/assisted_stats.html", cycle=cycle, rows=rows)


# --- Helpers -----------------------------------------------------------------------------------

def _photos(projects) -> dict[int, list[str]]:
    """The addresses of the projects' photos, when the proposals feature serves them."""
    if "proposals.photo" not in current_app.view_functions or not projects:
        return {}
    photos: dict[int, list[str]] = {}
    for project_id, filename in project_photo_files(db.session, [p.id for p in projects]):
        try:
            photos.setdefault(project_id, []).append(url_for("proposals.photo", filename=filename))
        except BuildError:
            return {}
    return photos


def _ballot_page(cycle, selected: dict[int, int], *, current=None, resident=None, error: str | None = None):
    projects = [p for p in ballot_projects(db.session, cycle) if p.status == ProjectStatus.ON_BALLOT]
    if resident is None:
        action, back = url_for("ballots.confirm", cycle_id=cycle.id), None
    else:
        action = url_for("ballots.assist_confirm", cycle_id=cycle.id, resident_id=resident.id)
        back = url_for("ballots.assist_list", cycle_id=cycle.id)
    return render_template("ballots/vote.html", cycle=cycle, projects=projects, photos=_photos(projects),
                           selected=selected, rules=BallotRules.of(cycle), current=current, resident=resident,
                           action=action, back=back, error=error, form=BallotForm(), now=utcnow(),
                           total=sum(p.ballot_cost_fen for p in projects if p.id in selected),
                           points_used=sum(selected.values()))


def _confirm_page(cycle, chosen: dict[int, int], *, resident=None, form=None, error: str | None = None):
    projects = [p for p in ballot_projects(db.session, cycle) if p.id in chosen]
    form = form or (AssistedBallotForm() if resident else BallotForm())
    form.request_id.data = form.request_id.data or secrets.token_urlsafe(18)
    if resident is None:
        cast_url, back_url = (url_for("ballots.cast", cycle_id=cycle.id), url_for("ballots.vote", cycle_id=cycle.id))
    else:
        cast_url = url_for("ballots.assist_cast", cycle_id=cycle.id, resident_id=resident.id)
        back_url = url_for("ballots.assist_vote", cycle_id=cycle.id, resident_id=resident.id)
    return render_template("ballots/confirm.html", cycle=cycle, projects=projects, chosen=chosen,
                           hidden=hidden_choices(chosen, cycle.method), form=form, resident=resident,
                           cast_url=cast_url, back_url=back_url, error=error,
                           total=sum(p.ballot_cost_fen for p in projects))


def _form_idempotency(cycle, pairs, resident_id: int | None = None) -> Idempotency | None:
    """A confirm page's request id makes a double submit replay the first answer."""
    request_id = request.form.get("request_id", "")
    if not _REQUEST_ID.match(request_id):
        return None
    key = f"web:{request_id}" if resident_id is None else f"web:{resident_id}:{request_id}"
    return Idempotency.of(current_user.id, key[:100], cycle.id, pairs)


def _assisted_resident(cycle: CastingCycle, resident_id: int) -> Resident:
    resident = resident_of_my_grid(db.session, current_user, resident_id)
    eligible_resident(db.session, Voter.of_resident(resident), cycle)
    return resident


def _receipt_qr(receipt: str) -> Markup:
    """The receipt check's address as an inline SVG QR code (no script, no external request)."""
    return qr_svg(url_for("ballots.receipt", code=receipt, _external=True), label="QR")


def _cycle_of(ballot):
    return get_cycle(db.session, ballot.cycle_id) if ballot else None
