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
from typing import Annotated, Any

from flask import jsonify, request
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field, RootModel, WithJsonSchema

from ..accounts.access import accept_bearer, acting_user, presented_token, public, reads_own_token, require_roles
from ..api import bp
from ..api.schema import MAX_ID, Answer, Body, Moment, answers, answers_with_headers, request_body, validate
from ..cycles.api import iso
from ..cycles.services import get_cycle
from ..database import reads_before_lock, transactional, utcnow
from ..enums import Channel, Role
from ..errors import BadRequest
from ..extensions import db, limiter
from .casting import Idempotency, Voter, cycle_for_casting
from .services import cast_ballot, find_receipt, own_ballot, receipt_answer, worker_counts

_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")
PROJECT_ID = {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_ID}
HASH = {"pattern": "^[0-9a-f]{64}$", "examples": ["9f2c0e4a" * 8]}
RECEIPT = {"pattern": "^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$",
           "examples": ["7KQ2-M9XD-4T1B"]}


# --- Requests ----------------------------------------------------------------------------------
# The ballot's fields are read by the cast itself (`ballot_pairs`, then `rules.validate_choices`), with
# the SPEC's codes: a body without either is `malformed_ballot`, a project not on the ballot
# `unknown_project`, points that are not whole numbers `bad_points`. The model refuses other fields.

class BallotIn(Body):
    """The projects chosen; in cumulative voting, the points given to each (by project id)."""

    model_config = ConfigDict(json_schema_extra={
        "examples": [{"projects": [12, 15]}, {"points": {"12": 3, "15": 2}}],
        "anyOf": [{"required": ["projects"]}, {"required": ["points"]}],
    })
    projects: Annotated[Any, WithJsonSchema({"type": "array", "items": PROJECT_ID, "uniqueItems": True,
                                             "description": "The chosen projects' ids."})] = None
    points: Annotated[Any, WithJsonSchema({
        "type": "object", "propertyNames": {"pattern": "^[1-9][0-9]{0,10}$"},
        "additionalProperties": {"type": "integer", "minimum": 1},
        "description": "Cumulative voting: points by project id (a `projects` list gives each 1 point)."})] = None


class BallotHeaders(BaseModel):
    """Headers of a cast (any others are ignored)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=False)
    idempotency_key: Annotated[str | None, WithJsonSchema(
        {"type": "string", "pattern": _KEY.pattern, "minLength": 1, "maxLength": 100})] = Field(
        None, alias="Idempotency-Key",
        description="1 to 100 visible ASCII characters: a retry with the same key and body gets the first "
                    "answer again (marked `Idempotent-Replayed: true`); the same key with another body is 422 "
                    "`idempotency_key_reused`. Otherwise 400 `bad_idempotency_key`.",
        examples=["9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"])


# --- Answers -----------------------------------------------------------------------------------

class CastAnswer(Answer):
    """The receipt of a cast: keep it to check the ballot in the public record."""

    receipt: Annotated[str, Field(**RECEIPT)]
    cast_at: Moment
    version: int = Field(description="1 for the first ballot, then one more for each revision.")
    seq: int = Field(description="The ballot's place in the cycle's hash chain.")
    chain_hash: Annotated[str, Field(**HASH)] = Field(description="The chain's hash after this ballot.")


class OwnBallot(CastAnswer):
    """The resident's current ballot (for their eyes only)."""

    channel: Channel | None
    projects: list[int]
    points: dict[str, int]


class ReceiptCheck(Answer):
    """A receipt in the record, or `{"found": false}` (the other fields only when found)."""

    found: bool
    cycle: int | None = None
    seq: int | None = None
    recorded_at: Moment | None = None
    superseded: bool | None = Field(None, description="A later ballot of the same voter replaced it.")
    chain_hash: Annotated[str, Field(**HASH)] | None = None


class WorkerBallots(Answer):
    worker: str = Field(description="The username of the worker who entered them.")
    channel: Channel
    ballots: int


class WorkerCounts(RootModel[list[WorkerBallots]]):
    """Assisted and paper ballots by worker and channel (counts only)."""


REPLAYED = {"Idempotent-Replayed": {"description": "`true` when this is the stored answer to an earlier "
                                                   "request with the same Idempotency-Key.",
                                    "schema": {"type": "string", "enum": ["true"]}}}


def ballot_pairs(body: BallotIn) -> list[tuple[object, object]]:
    """(project, points) pairs from a PUT ballot body.

    :raises BadRequest: malformed_ballot when neither a `projects` list nor a `points` object.
    """
    if "points" in body.model_fields_set:
        points = body.points
        if not isinstance(points, dict):
            raise BadRequest(_("`points` must be an object of project id to points."), "malformed_ballot")
        return list(points.items())
    projects = body.projects
    if not isinstance(projects, list):
        raise BadRequest(_("Send {\"projects\": [project ids]} (or {\"points\": {id: n}} for points voting)."),
                         "malformed_ballot")
    return [(project, 1) for project in projects]


@bp.put("/cycles/<int:cycle_id>/ballot")
@reads_own_token
@validate(json=BallotIn, headers=BallotHeaders,
          resp=answers_with_headers(200, CastAnswer, REPLAYED, 401, 403, 409))
@reads_before_lock
@transactional
def put_ballot(cycle_id):
    """Cast or revise the resident's ballot (eligible residents, while voting is open)."""
    user, cycle = cycle_for_casting(db.session, cycle_id, presented_token())
    accept_bearer(user)
    pairs = ballot_pairs(request_body(BallotIn))
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
@validate(resp=answers(200, OwnBallot))
def get_ballot(cycle_id):
    """The resident's own current ballot (404 no_ballot before they vote)."""
    ballot, channel = own_ballot(db.session, get_cycle(db.session, cycle_id), acting_user())
    return jsonify({
        "receipt": ballot.receipt, "cast_at": iso(ballot.cast_at), "version": ballot.version,
        "channel": channel, "seq": ballot.seq, "chain_hash": ballot.chain_hash,
        "projects": [c.project_id for c in ballot.choices],
        "points": {str(c.project_id): c.points for c in ballot.choices},
    })


@bp.get("/receipts/<code>")
@public
@validate(resp=answers(200, ReceiptCheck))
@limiter.limit("60 per minute")
def ballot_receipt(code):
    """Check a receipt in the public record (found false when it is not there); never who or what."""
    return jsonify(receipt_answer(find_receipt(db.session, code)))


@bp.get("/cycles/<int:cycle_id>/assisted")
@require_roles(Role.STAFF, Role.ADMIN, Role.AUDITOR)
@validate(resp=answers(200, WorkerCounts))
def assisted_ballots(cycle_id):
    """Assisted and paper ballots per worker and channel (counts only, from the voter roll)."""
    cycle = get_cycle(db.session, cycle_id)
    rows = worker_counts(db.session, acting_user(), cycle)
    return jsonify([{"worker": r.worker, "channel": r.channel, "ballots": r.ballots} for r in rows])
