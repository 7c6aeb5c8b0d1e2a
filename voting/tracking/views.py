"""Pages: the archive of completed projects, a project's page, recording progress, the fund
ledger, the district dashboard, and milestone photos."""
from __future__ import annotations

from flask import (
    Blueprint, Response, abort, render_template, request, send_file,
    stream_with_context, url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from ..accounts.access import public, require_roles
from ..accounts.policy import can_manage, is_district_admin, is_staff_of, may_rate
from ..database import transactional
from ..enums import Role
from ..extensions import db
from ..format import CATEGORY_LABELS, STATUS_LABELS
from ..geography.services import get_community
from ..storage import send
from ..webforms import handle_form, saved
from . import photos
from .exports import csv_chunks, xlsx_file
from .forms import (
    ApprovalForm, ArchiveForm, CarryOverForm, EndForm, MilestoneForm, RatingForm, ReversalForm, SpendingForm,
    StatusForm,
)
from ..reporting import dashboard as district_dashboard
from .archive import ArchiveFilters, Page, archive_choices, archive_page, archive_rows, left_over_by_year
from .ledger import community_ledgers, get_ledger_cycle, ledger as cycle_ledger
from .progress import (
    add_milestone, advance_status, approve_overrun, milestone_photo_exists, my_rating,
    next_status, project_for_staff, rate_project, record_spending, reverse_spending, tracked_project,
)
from .story import project_story
from .closing import (
    carried_in, carry_over, closings, end_project, holding_cycle, left_over, next_cycle, open_projects,
    project_closing,
)
from ..cycles.services import cycle_to_oversee
from ..validation import query_int

bp = Blueprint("tracking", __name__)


def problems(form, anchor: str) -> list[tuple[str, str]]:
    """Every refusal shown on a form, as (anchor, message), for the summary at the top of the page."""
    if form is None:
        return []
    messages = list(form.form_errors) + [m for name, errors in form.errors.items() if name is not None
                                          for m in errors]
    return [(anchor, str(m)) for m in dict.fromkeys(messages)]


# --- The archive -----------------------------------------------------------------------------------

def _archive_form() -> tuple[ArchiveForm, dict]:
    choices = archive_choices(db.session)
    form = ArchiveForm(formdata=request.args)
    def everything():
        return [SelectChoice("", _("All"))]

    subs = choices["sub_districts"]
    form.sub_district.choices = everything() + [SelectChoice(s.code, s.name) for s in subs]
    form.community.choices = everything() + [SelectChoice(c.code, c.name, optgroup=s.name)
                                             for s in subs for c in s.communities]
    form.community.groups = [(s.name, [(c.code, c.name) for c in s.communities]) for s in subs]
    form.year.choices = everything() + [SelectChoice(str(y), str(y)) for y in choices["years"]]
    form.category.choices = everything() + [SelectChoice(c, str(CATEGORY_LABELS[c])) for c in choices["categories"]]
    return form, choices


def _filters(form: ArchiveForm) -> ArchiveFilters:
    return ArchiveFilters(
        q=form.q.data or "", sub_district=form.sub_district.data or None, community=form.community.data or None,
        year=int(form.year.data) if form.year.data else None, category=form.category.data or None,
        state=form.state.data or "done",
    )


@bp.get("/archive")
@public
def archive():
    """The completed projects of the district: search, filters, pages, downloads."""
    form, _choices = _archive_form()
    if not form.validate():
        empty = Page(0, 1, 1)
        return render_template("tracking/archive.html", form=form, page=empty, filters=ArchiveFilters(),
                               left_over_years=[]), 400
    filters = _filters(form)
    page = archive_page(db.session, filters, form.page.data or 1)
    return render_template("tracking/archive.html", form=form, page=page, filters=filters,
                           left_over_years=left_over_by_year(db.session, filters))


def _download_filters() -> ArchiveFilters:
    form, _choices = _archive_form()
    if not form.validate():
        abort(400, _("The filters of this download are not valid; go back to the archive and choose again."))
    return _filters(form)


@bp.get("/archive.csv")
@public
def archive_csv():
    """The filtered archive as CSV (UTF-8 with BOM)."""
    rows = archive_rows(db.session, _download_filters())
    response = Response(stream_with_context(csv_chunks(rows)), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = 'attachment; filename="completed-projects.csv"'
    return response


@bp.get("/archive.xlsx")
@public
def archive_xlsx():
    """The filtered archive as an Excel workbook."""
    out = xlsx_file(archive_rows(db.session, _download_filters()), _("Completed projects"))
    return send_file(out, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     as_attachment=True, download_name="completed-projects.xlsx", max_age=0)


# --- A project -------------------------------------------------------------------------------------

def _render_project(project, rating_form=None, status=200):
    story = project_story(db.session, project)
    rated = my_rating(db.session, current_user, project)
    if rating_form is None and may_rate(current_user, project) and rated is None:
        rating_form = RatingForm()
    return render_template("tracking/project.html", story=story, project=project, rated=rated,
                           rating_form=rating_form, problems=problems(rating_form, "rating"),
                           manage=can_manage(current_user, project),
                           closing=project_closing(db.session, project)), status


@bp.get("/tracking/projects/<int:project_id>")
@public
def project(project_id):
    """A funded project: its vote, timeline, photos, spending and rating."""
    return _render_project(tracked_project(db.session, project_id))


@bp.post("/tracking/projects/<int:project_id>/rating")
@require_roles(Role.RESIDENT)
@transactional
def rate(project_id):
    """A resident of the community rates the completed project once."""
    project = tracked_project(db.session, project_id)
    form = RatingForm()
    return handle_form(
        form, lambda: rate_project(db.session, current_user, project, form.score.data, form.comment.data),
        done=lambda _r: saved(_("Thank you: your rating is recorded."),
                              url_for("tracking.project", project_id=project.id) + "#rating"),
        again=lambda status: _render_project(project, rating_form=form, status=status), invalid=422)


# --- Recording progress (staff of the community) ------------------------------------------------

def _render_manage(project, status=200, reversing: int | None = None, **forms):
    forms.setdefault("status_form", StatusForm(formdata=None, to_status=next_status(project)))
    forms.setdefault("milestone_form", MilestoneForm(formdata=None))
    forms.setdefault("spending_form", SpendingForm(formdata=None))
    forms.setdefault("reversal_form", ReversalForm(formdata=None))
    forms["status_form"].to_status.data = next_status(project)
    summary = (problems(forms["status_form"], "status") + problems(forms["milestone_form"], "milestone")
               + problems(forms["spending_form"], "payment")
               + problems(forms["reversal_form"], f"entry-{reversing}"))
    led = cycle_ledger(db.session, project.cycle)
    return render_template("tracking/manage.html", project=project, story=project_story(db.session, project),
                           ledger=led, money=led.money_of(project.id), next_status=next_status(project),
                           problems=summary, reversing=reversing, **forms), status


@bp.get("/tracking/projects/<int:project_id>/manage")
@require_roles(Role.STAFF)
def manage(project_id):
    """Staff record the project's progress: status, milestones, spending."""
    return _render_manage(project_for_staff(db.session, current_user, project_id))


@bp.post("/tracking/projects/<int:project_id>/status")
@require_roles(Role.STAFF)
@transactional
def change_status(project_id):
    """Move the project one step forward (accepting it records the acceptance)."""
    project = project_for_staff(db.session, current_user, project_id, for_update=True)
    form = StatusForm()
    return handle_form(
        form, lambda: advance_status(db.session, current_user, project, form.to_status.data,
                                     accepted_on=form.accepted_on.data, panel=form.panel.data,
                                     remarks=form.remarks.data),
        done=lambda _r: saved(_("The project is now “%(status)s”.", status=_status(project.status)),
                              url_for("tracking.manage", project_id=project.id)),
        again=lambda status: _render_manage(project, status, status_form=form), invalid=422)


@bp.post("/tracking/projects/<int:project_id>/milestones")
@require_roles(Role.STAFF)
@transactional
def milestone(project_id):
    """Record a milestone with photos."""
    project = project_for_staff(db.session, current_user, project_id)
    form = MilestoneForm()
    return handle_form(
        form, lambda: add_milestone(db.session, current_user, project, form.happened_on.data, form.text.data,
                                    _uploaded(form.photos.data)),
        done=lambda _r: saved(_("The milestone is recorded."), url_for("tracking.manage", project_id=project.id)),
        again=lambda status: _render_manage(project, status, milestone_form=form), invalid=422)


@bp.post("/tracking/projects/<int:project_id>/spending")
@require_roles(Role.STAFF)
@transactional
def spending(project_id):
    """Record a payment out of the fund for the project."""
    project = project_for_staff(db.session, current_user, project_id)
    form = SpendingForm()
    return handle_form(
        form, lambda: record_spending(db.session, current_user, project, form.spent_on.data, form.amount.data,
                                      form.payee.data, form.note.data),
        done=lambda _r: saved(_("The payment is recorded."), url_for("tracking.manage", project_id=project.id)),
        again=lambda status: _render_manage(project, status, spending_form=form), invalid=422)


@bp.post("/tracking/projects/<int:project_id>/spending/<int:entry_id>/reversal")
@require_roles(Role.STAFF)
@transactional
def reversal(project_id, entry_id):
    """Cancel a wrong payment by a reversing entry, with the reason."""
    project = project_for_staff(db.session, current_user, project_id)
    form = ReversalForm()
    return handle_form(
        form, lambda: reverse_spending(db.session, current_user, project, entry_id, form.reason.data),
        done=lambda entry: saved(_("The payment is reversed: the reversing entry stands beside it."),
                                 url_for("tracking.manage", project_id=project.id) + f"#entry-{entry_id}"),
        again=lambda status: _render_manage(project, status, reversing=entry_id, reversal_form=form),
        invalid=422)


def _uploaded(files) -> list[tuple[str, bytes]]:
    """The chosen files as (name, bytes); read from the start, so a retried request reads them again."""
    chosen = []
    for storage in files or []:
        if not storage or not storage.filename:
            continue
        storage.stream.seek(0)
        chosen.append((storage.filename, storage.stream.read(photos.MAX_BYTES + 1)))
    return chosen


def _status(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


# --- The ledger ------------------------------------------------------------------------------------

@bp.get("/tracking/ledger/<code>")
@public
def community_ledger(code):
    """A community's funds year by year: allocated, committed, spent, remaining."""
    community = get_community(db.session, code)
    ledgers = community_ledgers(db.session, community)
    return render_template("tracking/ledgers.html", community=community, ledgers=ledgers,
                           left_overs=left_over(db.session, [led.cycle for led in ledgers]))


def _approval_form(led, form=None) -> ApprovalForm:
    """The approval form, its choices: the year's fund, or one of the year's funded projects."""
    form = form or ApprovalForm(formdata=None)
    form.project.choices = [SelectChoice("", _("The year's fund"))] + [
        SelectChoice(str(m.project.id), _("The cost of “%(title)s”", title=m.project.title))
        for m in led.projects]
    return form


def _render_ledger(community, year, approval_form=None, status=200):
    cycle = get_ledger_cycle(db.session, community, year)
    led = cycle_ledger(db.session, cycle)
    show_form = is_district_admin(current_user)
    return render_template("tracking/ledger.html", community=community, ledger=led,
                           left_over=left_over(db.session, [cycle])[cycle.id],
                           carried_in=carried_in(db.session, cycle),
                           closings=closings(db.session, [m.project.id for m in led.projects]),
                           approval_form=_approval_form(led, approval_form) if show_form else None,
                           problems=problems(approval_form, "approvals"),
                           manage=is_staff_of(current_user, community.id)), status


@bp.get("/tracking/ledger/<code>/<int:year>")
@public
def ledger(code, year):
    """One community-year's fund: the projects, every payment, the admin's approvals."""
    return _render_ledger(get_community(db.session, code), year)


@bp.post("/tracking/ledger/<code>/<int:year>/approvals")
@require_roles(Role.ADMIN)
@transactional
def approve(code, year):
    """The district admin allows spending beyond the fund or a project's cost, with a reason (logged)."""
    community = get_community(db.session, code)
    cycle = get_ledger_cycle(db.session, community, year)
    form = _approval_form(cycle_ledger(db.session, cycle), ApprovalForm())
    return handle_form(
        form, lambda: approve_overrun(db.session, current_user, cycle, form.amount.data, form.reason.data,
                                      int(form.project.data) if form.project.data else None),
        done=lambda _r: saved(_("The approval is recorded."),
                              url_for("tracking.ledger", code=code, year=year) + "#approvals"),
        again=lambda status: _render_ledger(community, year, approval_form=form, status=status), invalid=422)


# --- Closing the year (staff of the community) ----------------------------------------------------

def _render_closing(cycle, status=200, end_forms=None, carry_forms=None):
    waiting = open_projects(db.session, cycle)
    end_forms, carry_forms = dict(end_forms or {}), dict(carry_forms or {})
    for p in waiting:
        end_forms.setdefault(p.id, EndForm(formdata=None, prefix=f"p{p.id}"))
        carry_forms.setdefault(p.id, CarryOverForm(formdata=None, prefix=f"c{p.id}"))
    summary = [(f"project-{pid}", str(m)) for pid, form in {**carry_forms, **end_forms}.items()
               for _a, m in problems(form, "")]
    own = cycle_ledger(db.session, cycle)
    return render_template(
        "tracking/closing.html", cycle=cycle, community=cycle.community, waiting=waiting,
        next_cycle=next_cycle(db.session, cycle), end_forms=end_forms, carry_forms=carry_forms, problems=summary,
        closings=closings(db.session, [m.project.id for m in own.projects]), ledger=own,
        carried_in=carried_in(db.session, cycle), left_over=left_over(db.session, [cycle])[cycle.id],
        can_act=is_staff_of(current_user, cycle.community_id)), status


@bp.get("/tracking/cycles/<int:cycle_id>/closing")
@require_roles(Role.STAFF, Role.ADMIN)
def closing(cycle_id):
    """Closing the year: each funded project not accepted is carried over or ended; the money left over."""
    return _render_closing(cycle_to_oversee(db.session, current_user, cycle_id))


@bp.post("/tracking/projects/<int:project_id>/carry-over")
@require_roles(Role.STAFF)
@transactional
def carry(project_id):
    """Carry the project over into the community's next cycle."""
    project = project_for_staff(db.session, current_user, project_id)
    cycle = holding_cycle(db.session, project)
    form = CarryOverForm(prefix=f"c{project.id}")
    return handle_form(
        form, lambda: carry_over(db.session, current_user, project),
        done=lambda c: saved(_("“%(title)s” is carried over into %(year)d.", title=project.title,
                               year=c.into_cycle.year),
                             url_for("tracking.closing", cycle_id=cycle.id)),
        again=lambda status: _render_closing(cycle, status, carry_forms={project.id: form}))


@bp.post("/tracking/projects/<int:project_id>/end")
@require_roles(Role.STAFF)
@transactional
def end(project_id):
    """End the project with a public reason."""
    project = project_for_staff(db.session, current_user, project_id)
    cycle = holding_cycle(db.session, project)
    form = EndForm(prefix=f"p{project.id}")
    return handle_form(
        form, lambda: end_project(db.session, current_user, project, form.reason.data),
        done=lambda _e: saved(_("“%(title)s” is ended; the reason is published.", title=project.title),
                              url_for("tracking.closing", cycle_id=cycle.id)),
        again=lambda status: _render_closing(cycle, status, end_forms={project.id: form}), invalid=422)


# --- The dashboard and photos ----------------------------------------------------------------------

@bp.get("/dashboard")
@public
def dashboard():
    """The district at a glance: completed projects, fund use, turnout."""
    year = request.args.get("year", type=query_int)
    board = district_dashboard(db.session, year)
    if year is not None and year not in board.fund_years:
        board = district_dashboard(db.session, None)
    return render_template("tracking/dashboard.html", board=board)


@bp.get("/tracking/photos/<name>")
@public
def photo(name):
    """A stored milestone photo (milestones are public: so are their photos)."""
    blob = photos.load_photo(db.session, name) if milestone_photo_exists(db.session, name) else None
    if blob is None:
        abort(404)
    return send(blob, public=True, max_age=30 * 24 * 3600)
