"""Registry pages for staff: importing the resident registry (CSV or XLSX, all rows or none, every
bad row named) and printing residents' personal voting codes for the grid workers."""
from __future__ import annotations

import re

from flask import Blueprint, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..accounts.access import require_roles
from ..audit.services import log_action
from ..config import secret_keys
from ..cycles.services import require_oversight, require_staff_of
from ..database import transactional, utcnow
from ..extensions import db
from ..format import qr_svg
from ..geography.services import get_community
from .forms import ImportForm, VotingCodesForm
from .registry_file import COLUMNS, HEADINGS, RegistryFileError, read_registry
from .services import (SHEET_SIZE, RegistryRejected, find_grid_residents, import_residents, issue_grid_codes,
                       registry_by_grid)

bp = Blueprint("residents", __name__)


@bp.get("/c/<code>/residents/import")
@require_roles("staff", "admin")
def import_page(code):
    """Staff: upload the community's resident registry."""
    place = get_community(db.session, code)
    require_oversight(current_user, place.id)
    return _import_page(place, ImportForm())


@bp.post("/c/<code>/residents/import")
@require_roles("staff", "admin")
@transactional
def import_file(code):
    """Import every row of the uploaded registry, or none: a refused file lists each bad row."""
    place = get_community(db.session, code)
    require_oversight(current_user, place.id)
    form = ImportForm()
    if not form.validate_on_submit():
        return _import_page(place, form), 400
    upload = form.registry.data
    try:
        rows = read_registry(upload.read(), upload.filename or "")
        count = import_residents(db.session, place, rows, secret_keys(current_app.config))
    except RegistryFileError as error:
        db.session.rollback()
        return _import_page(place, form, file_error=str(error)), 422
    except RegistryRejected as rejected:
        db.session.rollback()
        return _import_page(place, form, problems=rejected.problems), 422
    log_action(db.session, current_user, "residents.import", place, imported=count,
               file=(upload.filename or "")[:100])
    flash(_("%(n)d residents imported into the registry of %(community)s.", n=count, community=place.name),
          "info")
    return redirect(url_for("residents.import_page", code=place.code))


@bp.get("/c/<code>/voting-codes")
@require_roles("staff")
def voting_codes(code):
    """Staff: the grids and their voting codes; find a resident who lost the slip."""
    place = get_community(db.session, code)
    require_staff_of(current_user, place.id)
    grid, search = request.args.get("grid", "")[:32], request.args.get("q", "")[:40]
    found = find_grid_residents(db.session, place, grid, search) if grid and search.strip() else None
    return render_template("residents/voting_codes.html", community=place, grids=registry_by_grid(db.session, place),
                           form=VotingCodesForm(), sheet_size=SHEET_SIZE, grid=grid, search=search, found=found)


@bp.post("/c/<code>/voting-codes")
@require_roles("staff")
@transactional
def print_voting_codes(code):
    """Issue new voting codes and show them once, as a sheet to print (earlier codes stop working)."""
    place = get_community(db.session, code)
    require_staff_of(current_user, place.id)
    form = VotingCodesForm()
    if not form.validate_on_submit():
        flash(_("Choose a grid or a resident first."), "error")
        return redirect(url_for("residents.voting_codes", code=place.code)), 303
    grid, slips = issue_grid_codes(db.session, current_user, place, form.grid.data, form.resident.data)
    page = render_template("residents/codes_sheet.html", community=place, grid=grid,
                           slips=[(slip, _code_qr(slip.code)) for slip in slips], now=utcnow(),
                           vote_url=url_for("geography.community", code=place.code, _external=True))
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"  # the codes exist only on this page
    return response


def _import_page(place, form: ImportForm, file_error: str | None = None, problems=None):
    headings = {column: [h for h, c in HEADINGS.items() if c == column and h != column] for column in COLUMNS}
    return render_template("residents/import.html", community=place, form=form, file_error=file_error,
                           problems=problems, headings=headings, grids=registry_by_grid(db.session, place))


def _code_qr(code: str):
    """The code's digits as a QR code: never an address, which would leave the code in browser
    history, proxies and server logs; a scanner keyboard types it into the assisted ballot's confirm
    field."""
    return qr_svg(re.sub(r"\D", "", code))
