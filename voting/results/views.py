from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.access import public, require_roles
from ..accounts.policy import may_answer_objections, may_object
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Role
from ..extensions import db
from ..format import qr_svg
from ..webforms import handle_form, saved
from .forms import AnswerForm, ObjectionForm
from .services import (
    RecordedResult, answer_objection, cycle_objections, file_objection, get_objection, notice_period,
    shown_result, tie_rule,
)

bp = Blueprint("results", __name__)


@bp.get("/cycles/<int:cycle_id>/results")
@public
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def show(cycle_id):
    """The published result: votes per project against the fund, each project's reason, turnout, and
    the public notice with its objections and answers."""
    return _render_show(get_cycle(db.session, cycle_id))


def _render_show(cycle, status: int = 200, objection_form=None, answer_forms=None):
    """The result page, with a refused objection or answer shown again with its error."""
    now = utcnow()
    view = shown_result(db.session, cycle, now)
    period = notice_period(cycle)
    if isinstance(view, RecordedResult):
        return render_template("results/recorded.html", view=view, cycle=cycle, period=period), status
    objections = cycle_objections(db.session, cycle)
    may_file = period.is_open(now) and cycle.current_phase(now) == "results" and may_object(
        current_user, cycle.community_id)
    answer_forms = dict(answer_forms or {})
    if may_answer_objections(current_user, cycle.community_id):
        for objection in objections:
            if not objection.is_answered and objection.id not in answer_forms:
                answer_forms[objection.id] = AnswerForm(formdata=None, prefix=f"o{objection.id}")
    return render_template(
        "results/show.html", view=view, cycle=cycle, result=view.result, now=now, period=period,
        tie_rule=tie_rule(cycle, view.result.rule),
        objections=objections, objection_form=objection_form or (ObjectionForm(formdata=None) if may_file else None),
        answer_forms=answer_forms,
    ), status


@bp.post("/cycles/<int:cycle_id>/objections")
@require_roles(Role.RESIDENT)
@transactional
def object_to(cycle_id):
    """A resident of the community objects to the result during its public notice."""
    cycle = get_cycle(db.session, cycle_id)
    form = ObjectionForm()
    return handle_form(
        form, lambda: file_objection(db.session, current_user, cycle, form.text.data, utcnow()),
        done=lambda objection: saved(_("Your objection is published; the community's staff will answer it here."),
                                     url_for("results.show", cycle_id=cycle.id, _anchor=f"objection-{objection.id}")),
        again=lambda status: _render_show(cycle, status, objection_form=form), invalid=422)


@bp.post("/objections/<int:objection_id>/answer")
@require_roles(Role.STAFF)
@transactional
def answer(objection_id):
    """Staff of the community answer an objection in public."""
    objection = get_objection(db.session, objection_id)
    cycle = get_cycle(db.session, objection.cycle_id)
    form = AnswerForm(prefix=f"o{objection.id}")
    return handle_form(
        form, lambda: answer_objection(db.session, current_user, objection.id, form.text.data, utcnow()),
        done=lambda _r: saved(_("The answer is published."),
                              url_for("results.show", cycle_id=cycle.id, _anchor=f"objection-{objection.id}")),
        again=lambda status: _render_show(cycle, status, answer_forms={objection.id: form}), invalid=422)


@bp.get("/cycles/<int:cycle_id>/results/notice")
@public
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def notice(cycle_id):
    """The result as the public notice (公示) to print and post: every project, its votes and reason,
    the notice period and how to object."""
    cycle = get_cycle(db.session, cycle_id)
    view = shown_result(db.session, cycle, utcnow())
    if isinstance(view, RecordedResult):  # a year counted before online voting has no notice here
        return redirect(url_for("results.show", cycle_id=cycle.id))
    address = url_for("results.show", cycle_id=cycle_id, _external=True)
    return render_template("results/notice.html", view=view, cycle=view.cycle, result=view.result,
                           address=address, qr=qr_svg(address), now=utcnow(), period=notice_period(view.cycle),
                           tie_rule=tie_rule(view.cycle, view.result.rule))
