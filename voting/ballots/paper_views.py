"""Paper ballot pages: a cycle's batches, typing a batch's rounds, reconciling, and the staff's
decision on the paper of a resident who already voted (blueprint `ballots`, see `paper.py`)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from ..accounts.access import require_roles
from ..accounts.policy import is_staff_of
from ..cycles.services import get_cycle
from ..database import transactional, utcnow
from ..enums import Channel, ProjectStatus, Role
from ..errors import Forbidden
from ..extensions import db
from ..proposals.ballot import ballot_projects
from ..validation import query_int
from ..webforms import handle_form, refusal, saved
from . import paper
from .forms import (
    ActionForm, PaperBatchForm, PaperDecisionForm, PaperEntryForm, choices_from_form, selected_choices,
)
from .rules import BallotRules
from .views import bp  # the paper pages are part of the ballots' blueprint

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
VOTED_LABELS = {Channel.ONLINE: _l("already voted online"),
                Channel.ASSISTED: _l("already voted with a grid worker"),
                Channel.PAPER: _l("already voted on paper")}
ALREADY_VOTED = {Channel.ONLINE: _l("This resident already voted online."),
                 Channel.ASSISTED: _l("This resident already voted with a grid worker."),
                 Channel.PAPER: _l("This resident already voted on paper.")}


@bp.context_processor
def _labels():
    return {"PROBLEM_LABELS": PROBLEM_LABELS, "ENTRY_LABELS": ENTRY_LABELS, "VOTED_LABELS": VOTED_LABELS,
            "ALREADY_VOTED": ALREADY_VOTED}


@bp.get("/cycles/<int:cycle_id>/paper")
@require_roles(Role.GRID_WORKER, Role.STAFF)
def paper_batches(cycle_id):
    """The paper ballot batches of the grids the user enters, and a form to open one."""
    cycle = get_cycle(db.session, cycle_id)
    return _paper_list(cycle, _batch_form(cycle))


@bp.post("/cycles/<int:cycle_id>/paper")
@require_roles(Role.GRID_WORKER, Role.STAFF)
@transactional
def paper_open(cycle_id):
    """Open a batch of a grid's paper ballots (the opener types round 1)."""
    cycle = get_cycle(db.session, cycle_id)
    form = _batch_form(cycle)
    return handle_form(
        form, lambda: paper.create_batch(db.session, current_user, cycle, form.grid.data, form.label.data, utcnow()),
        done=_to_batch,
        again=lambda status: (_paper_list(cycle, form), status))


@bp.get("/paper/<int:batch_id>")
@require_roles(Role.GRID_WORKER, Role.STAFF)
def paper_batch(batch_id):
    """A batch: the user's own round (never the other round), disputes, and what to do next."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    return _batch_page(batch, selected={}, resident=request.args.get("resident", type=query_int))


@bp.post("/paper/<int:batch_id>/entries")
@require_roles(Role.GRID_WORKER, Role.STAFF)
@transactional
def paper_add(batch_id):
    """Type one paper ballot into the user's round."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    form = _entry_form(batch, paper.voted_in_grid(db.session, batch))
    pairs = choices_from_form(request.form, batch.cycle.method)
    return handle_form(
        form, lambda: paper.add_entry(db.session, current_user, batch, form.resident.data, pairs, utcnow()),
        done=lambda entry: _flashed(_entry_saved(entry), batch),
        again=lambda status: (_batch_page(batch, selected_choices(pairs), form=form, error=refusal(form)), status))


@bp.post("/paper/<int:batch_id>/entries/<int:entry_id>/delete")
@require_roles(Role.GRID_WORKER, Role.STAFF)
@transactional
def paper_remove(batch_id, entry_id):
    """Remove an entry of the user's own round."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    return _action(batch, lambda: paper.remove_entry(db.session, current_user, batch, entry_id),
                   lambda _none: _("Entry removed."))


@bp.post("/paper/<int:batch_id>/finish")
@require_roles(Role.GRID_WORKER, Role.STAFF)
@transactional
def paper_finish(batch_id):
    """Finish the user's round; the second finished round reconciles the batch."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    return _action(batch, lambda: paper.finish_round(db.session, current_user, batch, utcnow()), _reconciled)


@bp.post("/paper/<int:batch_id>/reconcile")
@require_roles(Role.GRID_WORKER, Role.STAFF)
@transactional
def paper_reconcile(batch_id):
    """Reconcile again after disputed entries were typed again."""
    batch = paper.get_batch(db.session, current_user, batch_id)
    return _action(batch, lambda: paper.reconcile(db.session, current_user, batch, utcnow()), _reconciled)


@bp.post("/paper/<int:batch_id>/entries/<int:entry_id>/decide")
@require_roles(Role.STAFF)
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

def _to_batch(batch):
    return redirect(url_for("ballots.paper_batch", batch_id=batch.id))


def _action(batch, apply, message):
    """A button of the batch page (only its CSRF token): apply, flash what happened, back to the
    batch; a refusal is shown on the batch page with its status."""
    form = ActionForm()
    return handle_form(
        form, apply, done=lambda result: _flashed(message(result), batch),
        again=lambda status: (_batch_page(batch, {}, error=refusal(form)), status))


def _flashed(message: tuple[str, str] | str, batch):
    text, category = message if isinstance(message, tuple) else (message, "info")
    flash(text, category)
    return _to_batch(batch)


def _entry_saved(entry) -> tuple[str, str]:
    """Saved; and, for a resident who already voted, that the paper counts only if the staff decide so."""
    earlier = paper.voted_on_roll(db.session, entry.batch.cycle_id, [entry.resident_id]).get(entry.resident_id)
    if not earlier:
        return _("Entry saved."), "info"
    return " ".join((_("Entry saved."), str(ALREADY_VOTED[earlier]),
                     _("The paper ballot is not counted unless the community's staff decide that it "
                       "replaces the earlier ballot."))), "error"


def _reconciled(result) -> tuple[str, str]:
    if result is None:
        return _("Your round is finished. The batch is reconciled when the other round is finished too."), "info"
    return (_("Reconciled: %(accepted)d ballots counted, %(disputed)d disputed.", accepted=result.accepted,
              disputed=result.disputed), "info" if not result.disputed else "error")


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
    form.resident.choices = [(r.id, f"{r.name} · {r.address}" + (f" · {VOTED_LABELS[voted[r.id]]}"
                                                                  if r.id in voted else ""))
                             for r in paper.grid_roll(db.session, batch)]
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
    projects = [p for p in ballot_projects(db.session, batch.cycle) if p.status == ProjectStatus.ON_BALLOT]
    disputes, missing = paper.disputes_of_round(db.session, batch, number)
    may_decide = is_staff_of(current_user, batch.grid.community_id)
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
