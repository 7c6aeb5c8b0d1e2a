"""Registry pages for staff: updating the resident registry from a file (CSV or XLSX: a preview
that writes nothing, then all rows or none, every bad row named), marking residents moved away or
deceased, and printing residents' personal voting codes for the grid workers."""
from __future__ import annotations

import base64
import hashlib
import re

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadData, URLSafeTimedSerializer

from ..accounts.access import require_roles
from ..config import secret_keys
from ..database import transactional, utcnow
from ..enums import Role
from ..errors import BadRequest, Conflict
from ..extensions import db
from ..format import qr_svg
from ..geography.services import community_for_staff, community_to_oversee, get_community
from ..webforms import handle_form, saved
from .forms import ConfirmImportForm, ImportForm, StatusForm, VotingCodesForm
from .models import RESIDENT_STATUSES
from .registry_file import COLUMNS, HEADINGS, RegistryFileError, read_registry
from .issuing import SHEET_SIZE, issue_grid_codes
from .services import (RegistryRejected, apply_import, find_grid_residents, plan_import, registry_by_grid,
                       registry_page, set_resident_status)

bp = Blueprint("residents", __name__)


@bp.get("/c/<code>/residents/import")
@require_roles(Role.STAFF, Role.ADMIN)
def import_page(code):
    """Staff: upload the community's resident registry."""
    place = community_to_oversee(db.session, current_user, code)
    return _import_page(place, ImportForm())


@bp.post("/c/<code>/residents/import")
@require_roles(Role.STAFF, Role.ADMIN)
def import_file(code):
    """Preview what importing the uploaded registry would change; writes nothing. A refused file
    lists each bad row."""
    place = community_to_oversee(db.session, current_user, code)
    form, refused = ImportForm(), {}

    def preview():
        upload = form.registry.data
        data, filename = upload.read(), (upload.filename or "")[:200]
        plan = plan_import(db.session, place, read_registry(data, filename), secret_keys(current_app.config), utcnow())
        return data, filename, plan

    def show(_form, error: RegistryFileError | RegistryRejected) -> int:  # above the form, as a report
        if isinstance(error, RegistryFileError):
            refused["file_error"] = str(error)
        else:
            refused["problems"] = error.problems
        return 422

    try:
        return handle_form(form, preview, done=lambda previewed: _preview_page(place, *previewed),
                           again=lambda status: (_import_page(place, form, **refused), status),
                           refusals=(RegistryFileError, RegistryRejected), show=show)
    finally:
        db.session.rollback()  # a preview writes nothing


@bp.post("/c/<code>/residents/import/confirm")
@require_roles(Role.STAFF, Role.ADMIN)
@transactional
def confirm_import(code):
    """Apply a previewed import, all of it or nothing, if the file and the registry are still as
    previewed."""
    place = community_to_oversee(db.session, current_user, code)
    form, keys, now = ConfirmImportForm(), secret_keys(current_app.config), utcnow()
    stale = _("The registry or the file changed since the preview, or the preview is more than an hour old: "
              "nothing was imported. Upload the file again to see a new preview.")

    def apply():
        try:
            data = base64.b64decode(form.file_data.data, validate=True)
            signed = URLSafeTimedSerializer(current_app.secret_key, salt=_TOKEN_SALT).loads(
                form.token.data, max_age=_TOKEN_SECONDS)
            plan = plan_import(db.session, place, read_registry(data, form.filename.data), keys, now)
        except (ValueError, BadData, RegistryFileError, RegistryRejected):
            raise BadRequest(stale, "stale_preview") from None
        if signed != _token_payload(place, data, plan):
            raise Conflict(stale, "stale_preview")
        if not form.mark_moved.data:
            plan.moved_away = []
        return apply_import(db.session, current_user, plan, keys, now, file=form.filename.data)

    def refuse(_status):  # a confirm step is not shown again: its refusals go to the error page
        raise BadRequest(stale, "stale_preview")

    return handle_form(
        form, apply,
        done=lambda counts: saved(
            _("Registry of %(community)s updated: %(new)d new, %(changed)d changed, %(moving_in)d moved in, "
              "%(moved_away)d marked as moved away.", community=place.name, **counts),
            url_for("residents.import_page", code=place.code)),
        again=refuse, refusals=())


@bp.get("/c/<code>/residents")
@require_roles(Role.STAFF)
def registry(code):
    """Staff: find residents of the community and mark who moved away or died."""
    place = community_for_staff(db.session, current_user, code)
    search, status = request.args.get("q", "")[:40], request.args.get("status", "")
    status = status if status in RESIDENT_STATUSES else ""
    found = registry_page(db.session, place, search, status)
    return render_template("residents/registry.html", community=place, residents=found, search=search,
                           status=status, statuses=RESIDENT_STATUSES, form=StatusForm(),
                           status_names={"active": _("Lives here"), "moved": _("Moved away"), "deceased": _("Deceased")})


@bp.post("/c/<code>/residents/<int:resident_id>/status")
@require_roles(Role.STAFF)
@transactional
def set_status(code, resident_id):
    """Staff: mark a resident as moved away, deceased, or living here again (logged)."""
    place = get_community(db.session, code)
    form = StatusForm()

    def refuse(_status):  # three buttons: no field to show an error beside
        raise BadRequest(_("Choose moved away, deceased or lives here."), "bad_status")

    return handle_form(
        form, lambda: set_resident_status(db.session, current_user, place, resident_id, form.status.data, utcnow()),
        done=lambda resident: saved(_("%(name)s: saved.", name=resident.name),
                                    url_for("residents.registry", code=place.code, q=request.args.get("q", "")[:40])),
        again=refuse, refusals=())


_TOKEN_SALT, _TOKEN_SECONDS = "registry-import", 3600


def _field_names() -> dict:
    return {"name": _("Name"), "grid": _("Grid"), "address": _("Address"), "phone": _("Phone")}


def _token_payload(place, data: bytes, plan) -> dict:
    return {"community": place.id, "user": current_user.id, "file": hashlib.sha256(data).hexdigest(),
            "plan": plan.digest()}


def _import_token(place, data: bytes, plan) -> str:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_TOKEN_SALT).dumps(_token_payload(place, data, plan))


@bp.get("/c/<code>/voting-codes")
@require_roles(Role.STAFF)
def voting_codes(code):
    """Staff: the grids and their voting codes; find a resident who lost the slip."""
    place = community_for_staff(db.session, current_user, code)
    grid, search = request.args.get("grid", "")[:32], request.args.get("q", "")[:40]
    found = find_grid_residents(db.session, place, grid, search) if grid and search.strip() else None
    return render_template("residents/voting_codes.html", community=place, grids=registry_by_grid(db.session, place),
                           form=VotingCodesForm(), sheet_size=SHEET_SIZE, grid=grid, search=search, found=found)


@bp.post("/c/<code>/voting-codes")
@require_roles(Role.STAFF)
@transactional
def print_voting_codes(code):
    """Issue new voting codes and show them once, as a sheet to print (earlier codes stop working)."""
    place = community_for_staff(db.session, current_user, code)
    form = VotingCodesForm()

    def choose_first(_status):
        flash(_("Choose a grid or a resident first."), "error")
        return redirect(url_for("residents.voting_codes", code=place.code)), 303

    return handle_form(
        form, lambda: issue_grid_codes(db.session, current_user, place, form.grid.data, form.resident.data),
        done=lambda issued: _codes_sheet(place, *issued), again=choose_first, refusals=())


def _codes_sheet(place, grid, slips):
    """The new codes, once: never cached, nowhere else to see them again."""
    page = render_template("residents/codes_sheet.html", community=place, grid=grid,
                           slips=[(slip, _code_qr(slip.code)) for slip in slips], now=utcnow(),
                           vote_url=url_for("geography.community", code=place.code, _external=True))
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"  # the codes exist only on this page
    return response


def _preview_page(place, data: bytes, filename: str, plan):
    confirm = ConfirmImportForm(formdata=None, file_data=base64.b64encode(data).decode(), filename=filename,
                                token=_import_token(place, data, plan))
    return render_template("residents/import_preview.html", community=place, plan=plan, form=confirm,
                           filename=filename, field_names=_field_names())


def _import_page(place, form: ImportForm, file_error: str | None = None, problems=None):
    headings = {column: [h for h, c in HEADINGS.items() if c == column and h != column] for column in COLUMNS}
    return render_template("residents/import.html", community=place, form=form, file_error=file_error,
                           problems=problems, headings=headings, grids=registry_by_grid(db.session, place))


def _code_qr(code: str):
    """The code's digits as a QR code: never an address, which would leave the code in browser
    history, proxies and server logs; a scanner keyboard types it into the assisted ballot's confirm
    field."""
    return qr_svg(re.sub(r"\D", "", code))
