"""Audit API (SPEC §5): the ballot record for auditors and the district admin, and the public
bulletin board of receipts.

GET /cycles/<id>/record answers the record as CSV (see `exports.py` for the layout; before the
close the record so far, marked as such in its `status` and `note`). The download is logged once served.
GET /cycles/<id>/receipts?page=N is public: `{cycle, total, page, pages, per_page, head: {seq,
chain_hash}, receipts: [{seq, receipt, recorded_at, superseded, chain_hash}]}` in the order
recorded; never choices, never voters. `head` is the running head of the chain (public while voting
is open): give it to a verifier as `--checkpoint SEQ:HASH`, and the final record must extend it.
"""
from __future__ import annotations

from flask import jsonify, request

from ..accounts.access import public, require_roles
from ..api import bp
from ..cycles.api import iso
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional
from ..enums import Role
from ..extensions import db
from ..validation import query_int
from .records import bulletin_page
from .views import logged_record_header, record_response


@bp.get("/cycles/<int:cycle_id>/record")
@require_roles(Role.AUDITOR, Role.ADMIN)
@reads_before_lock  # its one write, the first count, locks the chain head and reads again
@transactional
def cycle_record(cycle_id):
    """The cycle's ballot record as CSV (auditors and the district admin; the download is logged)."""
    header, logged = logged_record_header(cycle_id, "csv", via="api")
    return record_response(header, "csv", logged)


@bp.get("/cycles/<int:cycle_id>/receipts")
@public
def cycle_receipts(cycle_id):
    """The public bulletin board: every receipt with the time it was recorded and the chain hash after
    it, in seq order, and the running head."""
    cycle = get_cycle(db.session, cycle_id)
    board = bulletin_page(db.session, cycle, request.args.get("page", 1, type=query_int))
    return jsonify(
        cycle=cycle.id, total=board.total, page=board.page, pages=board.pages, per_page=board.per_page,
        head={"seq": board.head_seq, "chain_hash": board.head_hash},
        receipts=[{"seq": e.seq, "receipt": e.receipt, "recorded_at": iso(e.recorded_at),
                   "superseded": e.superseded, "chain_hash": e.chain_hash} for e in board.entries],
    )
