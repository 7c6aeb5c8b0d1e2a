"""Audit pages: the action log, the auditor's home, a cycle's downloads, the public bulletin board
of receipts and the standalone verifier. Every download is logged in the action log once it has
been served (`downloads.py`)."""
import io
import tempfile
from pathlib import Path

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from ..accounts.access import acting_user, public, require_roles
from ..ballots.services import worker_counts
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Role
from ..errors import Conflict
from ..extensions import db
from ..geography.services import list_communities
from ..validation import query_int
from .chainlog import first_bad_row
from .downloads import DownloadLog, download
from .exports import (FORMATS, MIMETYPES, csv_chunks, file_name, json_chunks, log_csv_chunks, roll_csv_chunks,
                      worker_csv_chunks, write_pabulib, write_xlsx)
from .records import (RecordHeader, audit_cycles, bulletin_page, current_ballots, record_header, record_lines,
                      record_rows,
                      roll_rows)
from .forms import LogFilterForm
from .services import as_row, entries, log_action
from .words import ACTION_LABELS, action_label, in_words

bp = Blueprint("audit", __name__)


VERIFIER = Path(__file__).with_name("verify_record.py")
LOGGED_ROLES = (Role.STAFF, Role.GRID_WORKER, Role.ADMIN, Role.AUDITOR)


@bp.get("/audit/log")
@require_roles(Role.AUDITOR, Role.ADMIN)
@transactional
def action_log():
    """The latest actions in words, filtered by what happened and where, and whether the chain of the
    whole log verifies."""
    logged = list(entries(db.session))
    rows = [as_row(e) for e in logged]
    bad = first_bad_row(rows)
    form = _log_filter_form()
    action, community = _chosen(form.action), _chosen(form.community)
    matching = [dict(row, when=entry.at) for row, entry in zip(rows, logged)
                if (not action or row["action"] == action) and (not community or row["community"] == community)]
    latest = in_words(db.session, matching[-200:][::-1])
    log_action(db.session, acting_user(), "audit.view_log")
    return render_template("audit/log.html", rows=latest, total=len(rows), matching=len(matching), first_bad=bad,
                           form=form, filtered=bool(action or community))


def _log_filter_form() -> LogFilterForm:
    form = LogFilterForm(formdata=request.args)
    everything = [SelectChoice("", _("All"))]
    form.action.choices = everything + sorted((SelectChoice(code, action_label(code)) for code in ACTION_LABELS),
                                              key=lambda c: c.label)
    form.community.choices = everything + [SelectChoice(c.code, c.name)
                                           for c in list_communities(db.session)]
    return form


def _chosen(field) -> str:
    """The field's value when it is one of its choices, else "" (everything)."""
    return field.data if field.data in {c.value for c in field.choices} else ""


@bp.get("/audit/log.csv")
@require_roles(Role.AUDITOR, Role.ADMIN)
def action_log_csv():
    """Download the whole action log (its download is logged once served: the next file has it).
    Cells are guarded against spreadsheet formulas: undo with `spreadsheet.plain` before checking the chain."""
    return download(log_csv_chunks(db.session), MIMETYPES["csv"], "action-log.csv",
                    DownloadLog("audit.download_log", acting_user().id))


@bp.get("/audit")
@require_roles(Role.AUDITOR, Role.ADMIN)
def home():
    """The auditor's home: every cycle of the district, with its ballot record's downloads."""
    return render_template("audit/home.html", cycles=audit_cycles(db.session), now=utcnow())


@bp.get("/audit/cycles/<int:cycle_id>")
@require_roles(Role.AUDITOR, Role.ADMIN)
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def cycle_record(cycle_id):
    """A cycle's downloads: the record in four formats, the voter roll, the count of ballots per worker,
    the action log, the verifier."""
    cycle = get_cycle(db.session, cycle_id)
    header, problem = None, None
    try:
        header = record_header(db.session, cycle, utcnow())
    except Conflict as error:
        problem = error.message
    return render_template("audit/record.html", cycle=cycle, header=header, problem=problem,
                           csv_name=file_name(header, "csv") if header else None)


@bp.get("/audit/cycles/<int:cycle_id>/record.<file_format>")
@require_roles(Role.AUDITOR, Role.ADMIN)
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def download_record(cycle_id, file_format):
    """Download the cycle's ballot record (logged once served)."""
    if file_format not in FORMATS:
        abort(404)
    header, logged = logged_record_header(cycle_id, file_format, via="page")
    return record_response(header, file_format, logged)


@bp.get("/audit/cycles/<int:cycle_id>/roll.csv")
@require_roles(Role.AUDITOR, Role.ADMIN)
def download_roll(cycle_id):
    """Download the voter roll: who voted and by which channel (logged once served)."""
    cycle = get_cycle(db.session, cycle_id)
    name = f"voter-roll-{cycle.community.code}-{cycle.year}-cycle{cycle.id}.csv"
    logged = DownloadLog("audit.download_roll", acting_user().id, cycle.community_id, {"cycle": cycle.id})
    return download(roll_csv_chunks(roll_rows(db.session, cycle.id)), MIMETYPES["csv"], name, logged)


@bp.get("/audit/cycles/<int:cycle_id>/workers.csv")
@require_roles(Role.AUDITOR, Role.ADMIN)
def download_worker_counts(cycle_id):
    """Download how many ballots each worker entered, by channel, from the voter roll (logged once served)."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, acting_user(), cycle)  # a list: the body needs no session
    name = f"worker-counts-{cycle.community.code}-{cycle.year}-cycle{cycle.id}.csv"
    logged = DownloadLog("audit.download_worker_counts", acting_user().id, cycle.community_id, {"cycle": cycle.id})
    return download(worker_csv_chunks(rows), MIMETYPES["csv"], name, logged)


@bp.get("/audit/verify_record.py")
@public
def verifier_script():
    """The standalone verifier (one Python file, standard library only); logged for signed-in staff."""
    user = acting_user()
    logged = (DownloadLog("audit.download_verifier", user.id)
              if user.is_authenticated and user.role in LOGGED_ROLES else None)
    return download([VERIFIER.read_bytes()], "text/x-python", "verify_record.py", logged)


@bp.get("/cycles/<int:cycle_id>/receipts")
@public
def bulletin(cycle_id):
    """The public bulletin board: every receipt of the cycle with its time, in the order recorded."""
    cycle = get_cycle(db.session, cycle_id)
    page = bulletin_page(db.session, cycle, request.args.get("page", 1, type=query_int))
    return render_template("audit/bulletin.html", cycle=cycle, board=page, now=utcnow())


def logged_record_header(cycle_id: int, file_format: str, via: str) -> tuple[RecordHeader, DownloadLog]:
    """The record's header (the result is stored on the first look after the close), and what the
    action log will say once the record has been served.

    :raises NotFound: unknown cycle. :raises Conflict: no_ballot_record.
    """
    cycle = get_cycle(db.session, cycle_id)
    header = record_header(db.session, cycle, utcnow())
    detail = {"cycle": cycle.id, "format": file_format, "status": header.status, "rows": header.chain_seq,
              "via": via}
    logged = DownloadLog("audit.download_record", acting_user().id, cycle.community_id, detail)
    return header, logged


def record_response(header: RecordHeader, file_format: str, logged: DownloadLog):
    """The record as a download: CSV and JSON stream from the database as they are sent; XLSX and
    pabulib are written in the view (from the header's snapshot) and sent from there."""
    name = file_name(header, file_format)
    if file_format == "csv":
        return download(csv_chunks(header, record_lines(db.session, header, "csv")), MIMETYPES["csv"], name, logged)
    if file_format == "json":
        return download(json_chunks(header, record_lines(db.session, header, "json")), MIMETYPES["json"], name,
                        logged)
    if file_format == "xlsx":
        spool = tempfile.TemporaryFile()
        write_xlsx(header, record_rows(db.session, header), spool)
        spool.seek(0)
        response = download(_file_chunks(spool), MIMETYPES["xlsx"], name, logged)
        response.call_on_close(spool.close)  # also when no body is sent (HEAD)
        return response
    text = io.StringIO()
    write_pabulib(header, current_ballots(db.session, header), text)
    return download([text.getvalue()], MIMETYPES["pb"], name, logged)


def _file_chunks(spool):
    """The spooled file in 64 KiB chunks; closed (and so deleted) when the body ends, however it ends."""
    with spool:
        while chunk := spool.read(1 << 16):
            yield chunk
