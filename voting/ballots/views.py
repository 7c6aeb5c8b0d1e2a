"""Ballot pages: voting (phone first, works without JavaScript), the receipt, the public receipt
check, assisted ballots at the door, paper ballot batches, and assisted ballots per worker per hour."""
from __future__ import annotations

import re
import secrets

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.routing import BuildError

from ..accounts.access import public, require_roles
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..errors import Forbidden, Invalid
from ..extensions import db, limiter
from ..proposals.ballot import ballot_projects
from ..proposals.models import ProjectPhoto
from ..residents.models import Resident
from ..webforms import handle_form, saved
from . import paper
from .forms import (ActionForm, AssistedBallotForm, BallotForm, PaperBatchForm, PaperDecisionForm, PaperEntryForm,
                    ReceiptForm, choices_from_form, hidden_choices)
from .rules import BallotRules
from .services import (Idempotency, cast_ballot, check_choices, chosen_projects, confirm_resident, current_ballot,
                       eligible_resident, ensure_voting_open, find_receipt, grid_residents, how_i_voted,
                       resident_of_my_grid, worker_counts)

bp = Blueprint("ballots", __name__)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

PROBLEM_LABELS = {
    "differs": _l("the two rounds differ"),
    "only_round_1": _l("only in round 1"),
    "only_round_2": _l("only in round 2"),
    "not_eligible": _l("this resident may not vote"),
    "voting_closed": _l("voting is closed"),
    "already_voted": _l("the resident already voted: the community's staff decide"),
    "household_voted": _l("another member of the household already voted (one vote per household)"),
}
ENTRY_LABELS = {"pending": _l("typed"), "disputed": _l("disputed"), "accepted": _l("counted")}
# A paper typed for a resident who already voted, by the channel the roll gives.
VOTED_LABELS = {"online": _l("already voted online"), "assisted": _l("already voted with a grid worker"),
                "paper": _l("already voted on paper")}
ALREADY_VOTED = {"online": _l("This resident already voted online."),
                 "assisted": _l("This resident already voted with a grid worker."),
                 "paper": _l("This resident already voted on paper.")}


@bp.context_processor
def _labels():
    return {"PROBLEM_LABELS": PROBLEM_LABELS, "ENTRY_LABELS": ENTRY_LABELS, "VOTED_LABELS": VOTED_LABELS,
            "ALREADY_VOTED": ALREADY_VOTED}


# --- Online voting -----------------------------------------------------------------------------

@bp.route("/cycles/<int:cycle_id>/vote", methods=["GET", "POST"])
@require_roles("resident")
def vote(cycle_id):
    """The ballot: projects, limits, running total; POST comes back from the confirm step."""
    cycle = get_cycle(db.session, cycle_id)
    eligible_resident(db.session, current_user, cycle)
    ensure_voting_open(cycle.window, utcnow())
    current = current_ballot(db.session, cycle, current_user)
    if request.method == "POST":
        selected = _selected(choices_from_form(request.form, cycle.method))
    else:
        selected = {c.project_id: c.points for c in current.choices} if current else {}
    return _ballot_page(cycle, selected, current=current)


@bp.post("/cycles/<int:cycle_id>/vote/confirm")
@require_roles("resident")
def confirm(cycle_id):
    """The confirm step: the chosen projects once more, checked, before the ballot is cast."""
    cycle = get_cycle(db.session, cycle_id)
    pairs = choices_from_form(request.form, cycle.method)
    try:
        chosen = check_choices(db.session, cycle, current_user, pairs, utcnow())
    except Invalid as error:
        return _ballot_page(cycle, _selected(pairs), error=error.message), 422
    return _confirm_page(cycle, chosen)


@bp.post("/cycles/<int:cycle_id>/ballot")
@reads_before_lock
@require_roles("resident")
@transactional
def cast(cycle_id):
    """Cast (or revise) the signed-in resident's ballot, then show the receipt."""
    cycle = get_cycle(db.session, cycle_id)
    pairs = choices_from_form(request.form, cycle.method)
    try:
        cast_ballot(db.session, cycle, current_user, pairs, "online", None, utcnow(),
                    idempotency=_form_idempotency(cycle, pairs))
    except Invalid as error:
        db.session.rollback()
        return _ballot_page(cycle, _selected(pairs), error=error.message), 422
    return redirect(url_for("ballots.my_ballot", cycle_id=cycle.id))


@bp.get("/cycles/<int:cycle_id>/my-ballot")
@require_roles("resident")
def my_ballot(cycle_id):
    """The resident's own current ballot: choices, receipt code and QR code, and how to change it."""
    cycle = get_cycle(db.session, cycle_id)
    ballot = current_ballot(db.session, cycle, current_user)
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
@require_roles("grid_worker")
def assist_list(cycle_id):
    """A grid worker's residents, to record an assisted ballot with one of them."""
    cycle = get_cycle(db.session, cycle_id)
    search = request.args.get("q", "")[:40]
    own_community = current_user.community_id == cycle.community_id
    residents = grid_residents(db.session, current_user, cycle, search) if own_community else []
    return render_template("ballots/assist_list.html", cycle=cycle, residents=residents, search=search,
                           now=utcnow())


@bp.route("/cycles/<int:cycle_id>/assist/<int:resident_id>", methods=["GET", "POST"])
@require_roles("grid_worker")
def assist_vote(cycle_id, resident_id):
    """The ballot, filled in together with the resident at the door."""
    cycle = get_cycle(db.session, cycle_id)
    resident = _assisted_resident(cycle, resident_id)
    selected = _selected(choices_from_form(request.form, cycle.method)) if request.method == "POST" else {}
    return _ballot_page(cycle, selected, resident=resident)


@bp.post("/cycles/<int:cycle_id>/assist/<int:resident_id>/confirm")
@require_roles("grid_worker")
def assist_confirm(cycle_id, resident_id):
    """The choices once more; the resident confirms with their own password or voting code."""
    cycle = get_cycle(db.session, cycle_id)
    resident = _assisted_resident(cycle, resident_id)
    pairs = choices_from_form(request.form, cycle.method)
    try:
        chosen = check_choices(db.session, cycle, resident, pairs, utcnow())
    except Invalid as error:
        return _ballot_page(cycle, _selected(pairs), resident=resident, error=error.message), 422
    return _confirm_page(cycle, chosen, resident=resident)


@bp.post("/cycles/<int:cycle_id>/assist/<int:resident_id>/ballot")
@reads_before_lock
@require_roles("grid_worker")
@limiter.limit("5 per minute;30 per hour", key_func=lambda: f"assist:{current_user.get_id()}",
               deduct_when=lambda response: response.status_code == 403)
@transactional
def assist_cast(cycle_id, resident_id):
    """Record the assisted ballot once the resident's credential is right; show the receipt."""
    cycle = get_cycle(db.session, cycle_id)
    resident = _assisted_resident(cycle, resident_id)
    form = AssistedBallotForm()
    pairs = choices_from_form(request.form, cycle.method)
    try:
        chosen = check_choices(db.session, cycle, resident, pairs, utcnow())
    except Invalid as error:
        return _ballot_page(cycle, _selected(pairs), resident=resident, error=error.message), 422
    if not form.validate_on_submit():
        return _confirm_page(cycle, chosen, resident=resident, form=form), 400
    try:
        confirm_resident(db.session, resident, form.credential.data)
    except Forbidden as error:
        db.session.rollback()
        return _confirm_page(cycle, chosen, resident=resident, error=error.message), 403
    outcome = cast_ballot(db.session, cycle, resident, pairs, "assisted", current_user, utcnow(),
                          idempotency=_form_idempotency(cycle, pairs, resident.id))
    return render_template("ballots/assist_done.html", cycle=cycle, resident=resident, answer=outcome.answer,
                           qr=_receipt_qr(outcome.answer["receipt"]))


@bp.get("/cycles/<int:cycle_id>/assisted")
@require_roles("staff", "admin", "auditor")
def assisted_stats(cycle_id):
    """Assisted and paper ballots per worker (counts only)."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, current_user, cycle)
    return render_template("ballots/assisted_stats.html", cycle=cycle, rows=rows)


# --- Paper ballots -----------------------------------------------------------------------------

@bp.get("/cycles/<int:cycle_id>/paper")
@require_roles("grid_worker", "staff")
def paper_batches(cycle_id):
    """The paper ballot batches of the grids the user enters, and a form to open one."""
    cycle = get_cycle(db.session, cycle_id)
    form = _batch_form(cycle)
    return _paper_list(cycle, form)


@bp.post("/cycles/<int:cycle_id>/paper")
@require_roles("grid_worker", "staff")
@transactional
def paper_open(cycle_id):
    """Open a batch of a grid's paper ballots (the opener types round 1)."""
    cycle = get_cycle(db.session, cycle_id)
    form = _batch_form(cycle)
    if not form.validate_on_submit():
        return _paper_list(cycle, form), 400
    batch = paper.create_batch(db.session, current_user, cycle, form.grid.data, form.label.data, utcnow())
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


@bp.get("/paper/<int:batch_id>")
@require_roles("grid_worker", "staff")
def paper_batch(batch_id):
    """A batch: the user's own round (never the other round), disputes, and what to do next."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    resident = request.args.get("resident", type=int)
    return _batch_page(batch, selected={}, resident=resident)


@bp.post("/paper/<int:batch_id>/entries")
@require_roles("grid_worker", "staff")
@transactional
def paper_add(batch_id):
    """Type one paper ballot into the user's round."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    form = _entry_form(batch, paper.voted_in_grid(db.session, batch))
    pairs = choices_from_form(request.form, batch.cycle.method)
    if not form.validate_on_submit():
        return _batch_page(batch, _selected(pairs), form=form), 400
    try:
        entry = paper.add_entry(db.session, current_user, batch, form.resident.data, pairs, utcnow())
    except Invalid as error:
        db.session.rollback()
        return _batch_page(batch, _selected(pairs), form=form, error=error.message), 422
    earlier = paper.voted_on_roll(db.session, batch.cycle_id, [entry.resident_id]).get(entry.resident_id)
    if earlier:
        flash(" ".join((_("Entry saved."), str(ALREADY_VOTED[earlier]),
                        _("The paper ballot is not counted unless the community's staff decide that it "
                          "replaces the earlier ballot."))), "error")
    else:
        flash(_("Entry saved."), "info")
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


@bp.post("/paper/<int:batch_id>/entries/<int:entry_id>/delete")
@require_roles("grid_worker", "staff")
@transactional
def paper_remove(batch_id, entry_id):
    """Remove an entry of the user's own round."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    if ActionForm().validate_on_submit():
        paper.remove_entry(db.session, current_user, batch, entry_id)
        flash(_("Entry removed."), "info")
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


@bp.post("/paper/<int:batch_id>/finish")
@require_roles("grid_worker", "staff")
@transactional
def paper_finish(batch_id):
    """Finish the user's round; the second finished round reconciles the batch."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    if ActionForm().validate_on_submit():
        result = paper.finish_round(db.session, current_user, batch, utcnow())
        _flash_reconciliation(result)
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


@bp.post("/paper/<int:batch_id>/reconcile")
@require_roles("grid_worker", "staff")
@transactional
def paper_reconcile(batch_id):
    """Reconcile again after disputed entries were typed again."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    if ActionForm().validate_on_submit():
        _flash_reconciliation(paper.reconcile(db.session, current_user, batch, utcnow()))
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


@bp.post("/paper/<int:batch_id>/entries/<int:entry_id>/decide")
@require_roles("staff")
@transactional
def paper_decide(batch_id, entry_id):
    """The community's staff decide a paper of a resident who already voted: replace or discard."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    form = PaperDecisionForm()
    done = {"replace": _("The paper ballot is counted: it replaces the resident's earlier ballot."),
            "discard": _("The paper ballot is discarded: the resident's earlier ballot stands.")}
    return handle_form(
        form, lambda: paper.decide_already_voted(db.session, current_user, batch, entry_id, form.decision.data,
                                                 form.reason.data, utcnow()),
        done=lambda decision: saved(done[decision], url_for("ballots.paper_batch", batch_id=batch.id)),
        again=lambda status: (_batch_page(batch, {}, decision=(entry_id, form)), status), invalid=422)


# --- Helpers -----------------------------------------------------------------------------------

def _selected(pairs) -> dict[int, int]:
    """Best-effort choices to show again on a form (what cannot be read is left out)."""
    selected = {}
    for project, points in pairs:
        try:
            selected[int(project)] = int(points)
        except (TypeError, ValueError):
            continue
    return selected


def _photos(projects) -> dict[int, list[str]]:
    if "proposals.photo" not in current_app.view_functions or not projects:
        return {}
    photos: dict[int, list[str]] = {}
    rows = db.session.scalars(select(ProjectPhoto).where(ProjectPhoto.project_id.in_([p.id for p in projects]))
                              .order_by(ProjectPhoto.id))
    for photo in rows:
        try:
            photos.setdefault(photo.project_id, []).append(url_for("proposals.photo", filename=photo.filename))
        except BuildError:
            return {}
    return photos


def _ballot_page(cycle, selected: dict[int, int], *, current=None, resident=None, error: str | None = None):
    projects = [p for p in ballot_projects(db.session, cycle) if p.status == "on_ballot"]
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


def _assisted_resident(cycle, resident_id: int) -> Resident:
    resident = resident_of_my_grid(db.session, current_user, resident_id)
    eligible_resident(db.session, resident, cycle)
    return resident


def _receipt_qr(receipt: str) -> Markup:
    """The receipt check's address as an inline SVG QR code (no script, no external request)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    image = qrcode.make(url_for("ballots.receipt", code=receipt, _external=True), image_factory=SvgPathImage,
                        box_size=10, border=2)
    svg = image.to_string(encoding="unicode")
    svg = re.sub(r'^<svg width="[^"]*" height="[^"]*"', '<svg class="qr" role="img" aria-label="QR"', svg)
    return Markup(svg)


def _cycle_of(ballot):
    return get_cycle(db.session, ballot.cycle_id) if ballot else None


def _batch_form(cycle) -> PaperBatchForm:
    form = PaperBatchForm()
    form.grid.choices = [(g.id, f"{g.name} ({g.code})") for g in paper.paper_grids(db.session, current_user, cycle)]
    return form


def _paper_list(cycle, form):
    batches = paper.list_batches(db.session, current_user, cycle)
    return render_template("ballots/paper_list.html", cycle=cycle, form=form, batches=batches, now=utcnow())


def _entry_form(batch, voted: dict[int, str]) -> PaperEntryForm:
    """The form's residents; those who already voted are flagged with how (from the roll)."""
    form = PaperEntryForm()
    residents = db.session.scalars(select(Resident).where(Resident.grid_id == batch.grid_id,
                                                          Resident.status == "active")
                                   .order_by(Resident.name, Resident.id))
    form.resident.choices = [(r.id, f"{r.name} · {r.address}" + (f" · {VOTED_LABELS[voted[r.id]]}"
                                                                  if r.id in voted else ""))
                             for r in residents]
    return form


def _batch_page(batch, selected, *, form=None, error=None, resident=None, decision=None):
    voted = paper.voted_in_grid(db.session, batch)
    form = form or _entry_form(batch, voted)
    if resident is not None and not form.resident.data:
        form.resident.data = resident
    try:
        number = paper.my_round(batch, current_user)
    except Forbidden:  # two others type the rounds: the page says so
        number = None
    projects = [p for p in ballot_projects(db.session, batch.cycle) if p.status == "on_ballot"]
    disputes = [e for e in batch.entries if e.status == "disputed" and e.problem != "already_voted"
                and (number is None or e.round == number)]
    others = ({e.resident_id for e in batch.entries if e.status == "disputed" and e.problem != "already_voted"}
              - {e.resident_id for e in disputes})
    missing = db.session.scalars(select(Resident).where(Resident.id.in_(others))).all() if others else []
    may_decide = current_user.role == "staff" and current_user.community_id == batch.grid.community_id
    decisions = {e.id: decision[1] if decision and decision[0] == e.id else PaperDecisionForm()
                 for e in paper.already_voted_disputes(batch)} if may_decide else {}
    if decision and decision[1].errors:
        error = error or " ".join(str(m) for ms in decision[1].errors.values() for m in ms)
    return render_template("ballots/paper_batch.html", batch=batch, cycle=batch.cycle, number=number, form=form,
                           voted=voted, already_voted=paper.already_voted_disputes(batch), decisions=decisions,
                           entries=paper.my_entries(batch, current_user), disputes=disputes, missing=missing,
                           projects=projects, selected=selected, rules=BallotRules.of(batch.cycle),
                           error=error, action_form=ActionForm(), now=utcnow(),
                           total=sum(p.ballot_cost_fen for p in projects if p.id in selected),
                           points_used=sum(selected.values()),
                           projects_by_id={p.id: p for p in projects})


def _flash_reconciliation(result) -> None:
    if result is None:
        flash(_("Your round is finished. The batch is reconciled when the other round is finished too."), "info")
    else:
        flash(_("Reconciled: %(accepted)d ballots counted, %(disputed)d disputed.", accepted=result.accepted,
                disputed=result.disputed), "info" if not result.disputed else "error")
