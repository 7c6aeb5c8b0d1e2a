from flask import Blueprint, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.access import public, require_roles
from ..accounts.policy import can_oversee, is_resident_of, is_staff_of
from ..enums import Role
from ..database import transactional, utcnow
from ..extensions import db
from ..money import yuan
from ..geography.services import community_cycles, community_to_oversee
from ..me.services import my_ballot
from ..proposals.ballot import ballot_projects
from ..proposals.models import BALLOT_STATUSES, STATUSES
from ..proposals.services import awaiting_review, cycle_proposals, project_for_review, review_proposal
from ..webforms import handle_form, saved
from .forms import (
    OUTCOME_RULE_LABELS, NewCycleForm, PhaseForm, ReviewForm, RulesForm, WindowForm, options,
)
from .models import Cycle
from .services import (
    NEXT_PHASE, close_preview, cycle_for_staff, cycle_to_oversee, get_cycle, move_phase, next_cycle_year,
    open_cycle, set_rules, set_window, turnout, voting_problems,
)
from ..results.services import explained
from ..validation import local_time_value, to_local_input

bp = Blueprint("cycles", __name__)


@bp.get("/cycles/<int:cycle_id>")
@public
def show(cycle_id):
    """A cycle in public: its phase and window, the ballot, and every decision with its reason."""
    cycle = get_cycle(db.session, cycle_id)
    proposals = cycle_proposals(db.session, cycle, current_user)
    return render_template("cycles/show.html", cycle=cycle, now=utcnow(), proposals=proposals,
                           ballot=[p for p in proposals if p.status in BALLOT_STATUSES],
                           awaiting=awaiting_review(db.session, cycle),
                           may_manage=can_oversee(current_user, cycle.community_id),
                           resident_here=is_resident_of(current_user, cycle.community_id),
                           my_ballot=my_ballot(db.session, current_user, cycle))


@bp.get("/c/<code>/manage")
@require_roles(Role.STAFF, Role.ADMIN)
def community(code):
    """Staff: the community's cycles, and opening next year's."""
    place = community_to_oversee(db.session, current_user, code)
    year = next_cycle_year(db.session, place)
    return _render_community(place, NewCycleForm(formdata=None, data={"year": year}))


@bp.post("/c/<code>/cycles")
@require_roles(Role.STAFF, Role.ADMIN)
@transactional
def open_next(code):
    """Open the community's cycle for a year (it starts collecting proposals)."""
    place = community_to_oversee(db.session, current_user, code)
    form = NewCycleForm()
    return handle_form(
        form, lambda: open_cycle(db.session, current_user, place, form.year.data),
        done=lambda cycle: saved(_("The %(year)d cycle is open: residents can now propose projects.", year=cycle.year),
                                 url_for("cycles.dashboard", cycle_id=cycle.id)),
        again=lambda status: _render_community(place, form, status))


@bp.get("/cycles/<int:cycle_id>/manage")
@require_roles(Role.STAFF, Role.ADMIN)
def dashboard(cycle_id):
    """Staff: run the cycle: proposals by status, the ballot, phase, window and rules; turnout only."""
    cycle = cycle_to_oversee(db.session, current_user, cycle_id)
    return render_dashboard(cycle)


@bp.post("/proposals/<int:project_id>/review")
@require_roles(Role.STAFF)
@transactional
def review(project_id):
    """Staff: put a proposal on the ballot, reject it with a public reason, or merge it."""
    project = project_for_review(db.session, current_user, project_id)
    cycle = project.cycle
    form = ReviewForm(prefix=f"p{project.id}")
    return handle_form(
        form, lambda: review_proposal(db.session, current_user, project, form.decision.data, reason=form.reason.data,
                                      cost=form.cost.data, into=form.into.data),
        done=lambda _r: saved(_("“%(title)s”: decision saved.", title=project.title),
                              url_for("cycles.dashboard", cycle_id=cycle.id, _anchor=f"p{project.id}")),
        again=lambda status: render_dashboard(cycle, status, review_forms={project.id: form}))


@bp.post("/cycles/<int:cycle_id>/manage/phase")
@require_roles(Role.STAFF)
@transactional
def phase(cycle_id):
    """Staff: move the cycle on to its next phase."""
    cycle = cycle_for_staff(db.session, current_user, cycle_id)
    form = PhaseForm()
    return handle_form(
        form, lambda: move_phase(db.session, current_user, cycle, form.phase.data, form.reason.data),
        done=lambda _r: saved(_("The cycle has moved on."), url_for("cycles.dashboard", cycle_id=cycle.id)),
        again=lambda status: (render_close(cycle, form, status) if form.phase.data == "results"
                              else render_dashboard(cycle, status, phase_form=form)))


@bp.get("/cycles/<int:cycle_id>/manage/close")
@require_roles(Role.STAFF)
@transactional  # each look at the count before the close is logged
def close(cycle_id):
    """Staff: before closing the vote early, the turnout and what the count would fund now."""
    cycle = cycle_for_staff(db.session, current_user, cycle_id)
    return render_close(cycle, PhaseForm(formdata=None, data={"phase": "results"}))


def render_close(cycle: Cycle, form: PhaseForm, status: int = 200):
    """The early close's page: the preview of the count (`close_preview`) and the confirming form."""
    preview = close_preview(db.session, current_user, cycle)
    return render_template("cycles/close.html", cycle=cycle, form=form, preview=preview,
                           rows=explained(db.session, cycle, preview.count.outcomes),
                           refusals=list(form.form_errors)), status


@bp.post("/cycles/<int:cycle_id>/manage/window")
@require_roles(Role.STAFF)
@transactional
def window(cycle_id):
    """Staff: set when voting opens and closes (Beijing time)."""
    cycle = cycle_for_staff(db.session, current_user, cycle_id)
    form = WindowForm()

    def apply():
        opens = local_time_value(form.voting_opens_at.data, "voting_opens_at", _("The opening time"))
        closes = local_time_value(form.voting_closes_at.data, "voting_closes_at", _("The closing time"))
        set_window(db.session, current_user, cycle, opens, closes)

    return handle_form(
        form, apply,
        done=lambda _r: saved(_("The voting window is saved."),
                              url_for("cycles.dashboard", cycle_id=cycle.id, _anchor="window")),
        again=lambda status: render_dashboard(cycle, status, window_form=form))


@bp.post("/cycles/<int:cycle_id>/manage/rules")
@require_roles(Role.STAFF)
@transactional
def rules(cycle_id):
    """Staff: set the voting rules before voting opens."""
    cycle = cycle_for_staff(db.session, current_user, cycle_id)
    form = RulesForm()
    return handle_form(
        form, lambda: set_rules(db.session, current_user, cycle, form.data),
        done=lambda _r: saved(_("The voting rules are saved."),
                              url_for("cycles.dashboard", cycle_id=cycle.id, _anchor="rules")),
        again=lambda status: render_dashboard(cycle, status, rules_form=form))


def render_dashboard(cycle: Cycle, status: int = 200, review_forms=None, phase_form=None, window_form=None,
                     rules_form=None):
    """The dashboard, with any refused form shown again with its errors."""
    now = utcnow()
    refused_forms = [*(review_forms or {}).values(), phase_form, window_form, rules_form]
    refusals = [error for form in refused_forms if form is not None for error in form.form_errors]
    current = cycle.current_phase(now)
    scheduled = cycle.is_voting_scheduled(now)
    proposals = cycle_proposals(db.session, cycle, current_user)
    by_status = {s: [p for p in proposals if p.status == s] for s in STATUSES}
    open_for_merge = [p for p in proposals if p.status in ("submitted", "on_ballot")]
    review_forms = dict(review_forms or {})
    for p in proposals:
        if p.id not in review_forms:
            review_forms[p.id] = ReviewForm(
                formdata=None, prefix=f"p{p.id}",
                data={"decision": {"rejected": "reject", "merged": "merge"}.get(p.status, "ballot"),
                      "reason": p.review_reason or "", "into": str(p.merged_into_id or ""),
                      "cost": yuan(p.ballot_cost_fen).removesuffix(".00")},
            )
        review_forms[p.id].into.choices = options([("", "—"), *((str(o.id), f"#{o.id} {o.title}")
                                                                for o in open_for_merge if o.id != p.id)])
    next_phase = None if scheduled else NEXT_PHASE.get(current)
    return render_template(
        "cycles/dashboard.html", cycle=cycle, now=now, refusals=refusals, outcome_labels=OUTCOME_RULE_LABELS,
        current=current, scheduled=scheduled, next_phase=next_phase,
        by_status=by_status, review_forms=review_forms, ballot=ballot_projects(db.session, cycle),
        can_act=is_staff_of(current_user, cycle.community_id),
        problems=voting_problems(db.session, cycle, now) if next_phase == "voting" or scheduled else [],
        turnout=(turnout(db.session, cycle) if current in ("voting", "results", "implementation", "closed")
                 else None),
        phase_form=phase_form or PhaseForm(formdata=None, data={"phase": next_phase}),
        window_form=window_form or WindowForm(formdata=None, data={
            "voting_opens_at": to_local_input(cycle.voting_opens_at),
            "voting_closes_at": to_local_input(cycle.voting_closes_at)}),
        rules_form=rules_form or RulesForm(formdata=None, data={
            "method": cycle.method, "min_choices": cycle.min_choices, "max_choices": cycle.max_choices or "",
            "points": cycle.points or "", "threshold": cycle.threshold or "",
            "outcome_rule": cycle.outcome_rule, "voters": cycle.voters, "notice_days": cycle.notice_days,
            "threshold_percent": cycle.threshold_percent or "", "min_turnout_percent": cycle.min_turnout_percent or ""}),
        new_cycle_form=NewCycleForm(formdata=None,
                                    data={"year": next_cycle_year(db.session, cycle.community)}),
    ), status


def _render_community(place, form: NewCycleForm, status: int = 200):
    return render_template("cycles/community.html", community=place, form=form, now=utcnow(),
                           cycles=community_cycles(db.session, place)), status
