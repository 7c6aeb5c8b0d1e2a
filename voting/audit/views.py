"""Audit pages: the action log, the auditor's home, a cycle's downloads, the public bulletin board
of receipts and the standalone verifier. Every download is logged in the action log first."""
import csv
import io
import tempfile
from pathlib import Path

from flask import Response, abort, render_template, request, stream_with_context

from ..accounts.access import acting_user, public, require_roles
from ..ballots.services import worker_counts
from ..cycles.services import get_cycle
from ..database import transactional, utcnow
from ..errors import Conflict
from ..extensions import db
from ..spreadsheet import guard
from . import bp
from .chainlog import first_bad_row
from .exports import (FORMATS, MIMETYPES, csv_chunks, file_name, json_chunks, roll_csv_chunks, worker_csv_chunks,
                      write_pabulib, write_xlsx)
from .records import (RecordHeader, audit_cycles, bulletin_page, current_ballots, record_header, record_rows,
                      roll_rows)
from .services import as_row, entries, log_action

VERIFIER = Path(__file__).with_name("verify_record.py")
LOGGED_ROLES = ("staff", "grid_worker", "admin", "auditor")

LOG_COLUMNS = ("seq", "at", "actor", "role", "action", "community", "detail", "chain_hash")


@bp.get("/audit/log")
@require_roles("auditor", "admin")
@transactional
def action_log():
    """The latest actions, and whether the chain of the whole log verifies."""
    logged = list(entries(db.session))
    rows = [as_row(e) for e in logged]
    bad = first_bad_row(rows)
    latest = [dict(row, when=entry.at) for row, entry in zip(rows[-200:], logged[-200:])][::-1]
    log_action(db.session, acting_user(), "audit.view_log")
    return render_template("audit/log.html", rows=latest, total=len(rows), first_bad=bad)


@bp.get("/audit/log.csv")
@require_roles("auditor", "admin")
@transactional
def action_log_csv():
    """Download the whole action log (the download itself is logged first, so it is in the file).
    Cells are guarded against spreadsheet formulas: undo with `spreadsheet.plain` before checking the chain."""
    log_action(db.session, acting_user(), "audit.download_log")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS)
    writer.writeheader()
    writer.writerows({key: guard(value) for key, value in as_row(e).items()} for e in entries(db.session))
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=action-log.csv"})


@bp.get("/audit")
@require_roles("auditor", "admin")
def home():
    """The auditor's home: every cycle of the district, with its ballot record's downloads."""
    return render_template("audit/home.html", cycles=audit_cycles(db.session), now=utcnow())


@bp.get("/audit/cycles/<int:cycle_id>")
@require_roles("auditor", "admin")
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
@require_roles("auditor", "admin")
@transactional
def download_record(cycle_id, file_format):
    """Download the cycle's ballot record (logged before it is served)."""
    if file_format not in FORMATS:
        abort(404)
    header = logged_record_header(cycle_id, file_format, via="page")
    return record_response(header, file_format)


@bp.get("/audit/cycles/<int:cycle_id>/roll.csv")
@require_roles("auditor", "admin")
@transactional
def download_roll(cycle_id):
    """Download the voter roll: who voted and by which channel (logged before it is served)."""
    cycle = get_cycle(db.session, cycle_id)
    log_action(db.session, acting_user(), "audit.download_roll", cycle.community, cycle=cycle.id)
    name = f"voter-roll-{cycle.community.code}-{cycle.year}-cycle{cycle.id}.csv"
    return _stream(roll_csv_chunks(roll_rows(db.session, cycle)), MIMETYPES["csv"], name)


@bp.get("/audit/cycles/<int:cycle_id>/workers.csv")
@require_roles("auditor", "admin")
@transactional
def download_worker_counts(cycle_id):
    """Download how many ballots each worker entered, by channel, from the voter roll (logged first)."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, acting_user(), cycle)
    log_action(db.session, acting_user(), "audit.download_worker_counts", cycle.community, cycle=cycle.id)
    name = f"worker-counts-{cycle.community.code}-{cycle.year}-cycle{cycle.id}.csv"
    return _stream(worker_csv_chunks(rows), MIMETYPES["csv"], name)


@bp.get("/audit/verify_record.py")
@public
@transactional
def verifier_script():
    """The standalone verifier (one Python file, standard library only); logged for signed-in staff."""
    user = acting_user()
    if user.is_authenticated and user.role in LOGGED_ROLES:
        log_action(db.session, user, "audit.download_verifier")
    return Response(VERIFIER.read_bytes(), mimetype="text/x-python",
                    headers={"Content-Disposition": "attachment; filename=verify_record.py"})


@bp.get("/cycles/<int:cycle_id>/receipts")
@public
def bulletin(cycle_id):
    """The public bulletin board: every receipt of the cycle with its time, in the order recorded."""
    cycle = get_cycle(db.session, cycle_id)
    page = bulletin_page(db.session, cycle, request.args.get("page", 1, type=int))
    return render_template("audit/bulletin.html", cycle=cycle, board=page, now=utcnow())


def logged_record_header(cycle_id: int, file_format: str, via: str) -> RecordHeader:
    """The record's header, with the download logged (it is served only if the log is committed).

    :raises NotFound: unknown cycle. :raises Conflict: no_ballot_record.
    """
    cycle = get_cycle(db.session, cycle_id)
    header = record_header(db.session, cycle, utcnow())
    log_action(db.session, acting_user(), "audit.download_record", cycle.community, cycle=cycle.id,
               format=file_format, status=header.status, rows=header.chain_seq, via=via)
    return header


def record_response(header: RecordHeader, file_format: str):
    """The record as a download: CSV and JSON stream from the database as they are sent."""
    name = file_name(header, file_format)
    if file_format == "csv":
        return _stream(csv_chunks(header, record_rows(db.session, header)), MIMETYPES["csv"], name)
    if file_format == "json":
        return _stream(json_chunks(header, record_rows(db.session, header)), MIMETYPES["json"], name)
    if file_format == "xlsx":
        spool = tempfile.TemporaryFile()
        write_xlsx(header, record_rows(db.session, header), spool)
        spool.seek(0)
        return Response(_file_chunks(spool), mimetype=MIMETYPES["xlsx"],
                        headers={"Content-Disposition": f"attachment; filename={name}"})
    text = io.StringIO()
    write_pabulib(header, current_ballots(db.session, header), text)
    return Response(text.getvalue(), mimetype=MIMETYPES["pb"],
                    headers={"Content-Disposition": f"attachment; filename={name}"})


def _file_chunks(spool):
    with spool:
        while chunk := spool.read(1 << 16):
            yield chunk


def _stream(chunks, mimetype: str, name: str) -> Response:
    body = stream_with_context(chunk.encode("utf-8") for chunk in chunks)
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})
