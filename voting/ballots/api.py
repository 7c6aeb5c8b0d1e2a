"""The ballot API (SPEC §5): cast and read one's ballot, check a receipt, assisted counts.

PUT /cycles/<id>/ballot takes `{"projects": [ids]}`, or `{"points": {"<id>": n}}` in cumulative
voting (a `projects` list there gives each project 1 point). With an `Idempotency-Key` header
(1–100 visible ASCII characters) the first successful answer is stored with the ballot and
replayed for the same key; the same key with a different body is 422 `idempotency_key_reused`.
Refusals are not stored: they change nothing, so sending again is safe.

GET /receipts/<code> is public and answers 200 for every code: `{"found": false}` when the code is
not in the record (a malformed code included), else `{"found": true, "cycle": <cycle id>,
"recorded_at": "…Z", "superseded": bool}`. It never tells who voted or what was chosen.
"""
from __future__ import annotations

import re

from flask import jsonify, request
from flask_babel import gettext as _

from ..accounts.access import accept_bearer, acting_user, presented_token, public, reads_own_token, require_roles
from ..api import bp, json_body
from ..cycles.api import iso
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Channel, Role
from ..errors import BadRequest
from ..extensions import db, limiter
from .casting import Idempotency, Voter, cycle_for_casting
from .services import cast_ballot, find_receipt, own_ballot, receipt_answer, worker_counts

_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")


def ballot_pairs(body: dict) -> list[tuple[object, object]]:
    """(project, points) pairs from a PUT ballot body.

    :raises BadRequest: malformed_ballot when neither a `projects` list nor a `points` object.
    """
    if "points" in body:
        points = body["points"]
        if not isinstance(points, dict):
            raise BadRequest(_("`points` must be an object of project id to points."), "malformed_ballot")
        return list(points.items())
    projects = body.get("projects")
    if not isinstance(projects, list):
        raise BadRequest(_("Send {\"projects\": [project ids]} (or {\"points\": {id: n}} for points voting)."),
                         "malformed_ballot")
    return [(project, 1) for project in projects]


@bp.put("/cycles/<int:cycle_id>/ballot")
@reads_own_token
@reads_before_lock
@transactional
def put_ballot(cycle_id):
    """Cast or revise the resident's ballot; 200 {receipt, cast_at, version, seq, chain_hash}."""
    user, cycle = cycle_for_casting(db.session, cycle_id, presented_token())
    accept_bearer(user)
    pairs = ballot_pairs(json_body())
    key = request.headers.get("Idempotency-Key")
    idempotency = None
    if key is not None:
        if not _KEY.match(key):
            raise BadRequest(_("An Idempotency-Key has 1 to 100 visible ASCII characters."), "bad_idempotency_key")
        idempotency = Idempotency.of(user.id, key, cycle.id, pairs)
    outcome = cast_ballot(db.session, cycle, Voter.of_account(user), pairs, Channel.ONLINE, None, utcnow(),
                          idempotency=idempotency)
    response = jsonify(outcome.answer)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@bp.get("/cycles/<int:cycle_id>/ballot")
def get_ballot(cycle_id):
    """The resident's own current ballot, or 404 no_ballot."""
    ballot, channel = own_ballot(db.session, get_cycle(db.session, cycle_id), acting_user())
    return jsonify({
        "receipt": ballot.receipt, "cast_at": iso(ballot.cast_at), "version": ballot.version,
        "channel": channel, "seq": ballot.seq, "chain_hash": ballot.chain_hash,
        "projects": [c.project_id for c in ballot.choices],
        "points": {str(c.project_id): c.points for c in ballot.choices},
    })


@bp.get("/receipts/<code>")
@public
@limiter.limit("60 per minute")
def ballot_receipt(code):
    """Check a receipt: {found, cycle, seq, recorded_at, superseded, chain_hash}; 200 with found false
    when unknown."""
    return jsonify(receipt_answer(find_receipt(db.session, code)))


@bp.get("/cycles/<int:cycle_id>/assisted")
@require_roles(Role.STAFF, Role.ADMIN, Role.AUDITOR)
def assisted_ballots(cycle_id):
    """Assisted and paper ballots per worker (counts only, from the voter roll):
    [{worker, channel, ballots}]."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, acting_user(), cycle)
    return jsonify([{"worker": r.worker, "channel": r.channel, "ballots": r.ballots} for r in rows])
