import csv
import io

from flask import Response, render_template

from ..accounts.access import acting_user, require_roles
from ..database import transactional
from ..extensions import db
from . import bp
from .chainlog import first_bad_row
from .services import as_row, entries, log_action

LOG_COLUMNS = ("seq", "at", "actor", "role", "action", "community", "detail", "chain_hash")


@bp.get("/audit/log")
@require_roles("auditor", "admin")
@transactional
def action_log():
    """The latest actions, and whether the chain of the whole log verifies."""
    rows = [as_row(e) for e in entries(db.session)]
    bad = first_bad_row(rows)
    log_action(db.session, acting_user(), "audit.view_log")
    return render_template("audit/log.html", rows=rows[-200:][::-1], total=len(rows), first_bad=bad)


@bp.get("/audit/log.csv")
@require_roles("auditor", "admin")
@transactional
def action_log_csv():
    """Download the whole action log (the download itself is logged first, so it is in the file)."""
    log_action(db.session, acting_user(), "audit.download_log")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS)
    writer.writeheader()
    writer.writerows(as_row(e) for e in entries(db.session))
    return Response("\ufeff" + buffer.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=action-log.csv"})
