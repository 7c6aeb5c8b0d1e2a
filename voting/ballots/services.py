"""Casting ballots (online, assisted, paper), revising them, receipts, and personal voting codes.

How one cast runs, in one transaction (the view commits):

1. refuse what can be refused without writing: not eligible (403 not_eligible), the wrong
   worker (403 not_your_grid), a closed vote (409 voting_closed), choices that break the rules
   (422, see `rules.py`);
2. lock the resident's roll entry in one statement: insert it, or on conflict "update" it to
   itself (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, which locks the row like `SELECT … FOR
   UPDATE` on PostgreSQL; SQLite is serialised by `BEGIN IMMEDIATE`). Every cast of one resident
   queues here, so versions follow each other without gap or repeat;
3. replay the stored answer when the `Idempotency-Key` was seen before;
4. freeze the cycle's rules at the first ballot, re-read them (once frozen: the voting window
   only, as rules cannot change any more) and check again;
5. mark the current ballot superseded (`UPDATE … RETURNING` its version: the current ballot is
   the highest version), and lock and advance the cycle's chain head (always after the roll entry,
   again one upsert returning the new `seq` and the previous hash): the new version extends the
   hash chain (`chain.py`);
6. record the ballot and its choices, the chain's new head, the roll entry's channel when it
   changes and, with a key, the answer to replay.

The hot path writes with Core statements (no unit-of-work flush), about ten round trips a cast;
copies of the rows it changed that the session already holds are expired. The partial unique index
on `ballot (cycle_id, voter_code) WHERE is_current` is the database's own guarantee of one current
ballot; `@transactional` retries deadlocks, serialisation failures and the (60-bit, practically
never) clash of a new receipt code with an old one.
"""
from __future__ import annotations

import functools
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import load_only, object_session
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash, generate_password_hash

from ..accounts.models import User
from ..cycles.models import Cycle
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..proposals.models import Project
from ..residents.models import Resident
from .chain import canonical_row, genesis_hash, next_hash
from .codes import new_receipt, new_voting_code, normalise_receipt, normalise_voting_code, voter_code
from .models import Ballot, BallotChain, BallotChoice, IdempotentAnswer, RollEntry
from .rules import BallotRules, validate_choices


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` of the acting user, with the hash of the request it came with."""

    user_id: int
    key: str
    request_hash: str


@dataclass(frozen=True)
class CastOutcome:
    """The answer to a cast: {receipt, cast_at, version}; `replayed` when it is a stored answer."""

    answer: dict
    replayed: bool
    ballot_id: int | None


def request_hash(cycle_id: int, pairs) -> str:
    """A fingerprint of a cast request (its cycle and choices as sent), for idempotency keys."""
    canonical = sorted((str(project), str(points)) for project, points in pairs)
    return hashlib.sha256(json.dumps([cycle_id, canonical]).encode()).hexdigest()


def eligible_resident(voter: User | Resident, cycle: Cycle) -> Resident:
    """The registry resident who may vote in the cycle: an active resident of its community
    (reached through their resident account, or directly for assisted and paper ballots).

    :raises Forbidden: not_eligible otherwise.
    """
    if isinstance(voter, User):
        if voter.role != "resident" or voter.resident is None or not voter.is_enabled:
            raise Forbidden(_("Only a resident in the register of this community can vote."), "not_eligible")
        voter = voter.resident
    if voter.community_id != cycle.community_id:
        raise Forbidden(_("This vote is for the residents of another community."), "not_eligible")
    if not voter.is_active:
        raise Forbidden(_("The register no longer lists you as living in this community."), "not_eligible")
    return voter


def _check_worker(channel: str, worker: User | None, resident: Resident) -> None:
    if channel == "online":
        if worker is not None:
            raise ValueError("an online ballot has no worker")
        return
    if worker is None:
        raise ValueError(f"a {channel} ballot needs the worker who records it")
    own_grid = worker.role == "grid_worker" and worker.grid_id == resident.grid_id
    own_community = worker.role == "staff" and worker.community_id == resident.community_id
    if not (own_grid or (channel == "paper" and own_community)):
        raise Forbidden(_("You can record ballots only for residents of your own grid."), "not_your_grid")


def ensure_voting_open(cycle: Cycle, now: datetime) -> None:
    """:raises Conflict: voting_closed outside the voting window (server time)."""
    if not cycle.is_voting_open(now):
        raise Conflict(_("Voting is not open: ballots are taken only between the published opening "
                         "and closing times."), "voting_closed")


def ballot_costs(session, cycle: Cycle) -> dict[int, int]:
    """The cost in fen of every project on the cycle's ballot (the reviewed cost, else the estimate)."""
    rows = session.execute(_sql(session).costs, {"cycle": cycle.id})
    return {project_id: estimated if cost is None else cost for project_id, cost, estimated in rows}


def cycle_for_casting(session, cycle_id: int) -> Cycle:
    """The cycle with what casting reads of it (its community, phase, window and rules; the rest
    loads on first access).

    :raises NotFound: unknown_cycle.
    """
    cycle = session.get(Cycle, cycle_id, options=[load_only(*_CASTING_COLUMNS)])
    if cycle is None:
        raise NotFound(_("There is no cycle %(id)s.", id=cycle_id), "unknown_cycle")
    return cycle


_CASTING_COLUMNS = (Cycle.community_id, Cycle.phase, Cycle.voting_opens_at, Cycle.voting_closes_at, Cycle.method,
                    Cycle.min_choices, Cycle.max_choices, Cycle.points, Cycle.fund_fen, Cycle.rules_frozen_at)


def check_choices(session, cycle: Cycle, voter: User | Resident, pairs, now: datetime) -> dict[int, int]:
    """Check a ballot before it is cast (the confirm step): eligible, open, within the rules.

    :raises Forbidden, Conflict, Invalid: as `cast_ballot`.
    """
    eligible_resident(voter, cycle)
    ensure_voting_open(cycle, now)
    return validate_choices(BallotRules.of(cycle), ballot_costs(session, cycle), pairs)


def cast_ballot(session, cycle: Cycle, voter: User | Resident, choices, channel: str, worker: User | None,
                now: datetime, *, idempotency: Idempotency | None = None) -> CastOutcome:
    """Record a ballot (or a new version of the voter's ballot) and return the receipt.

    `choices` are (project id, points) pairs as sent; points are 1 except in cumulative voting.

    :raises Forbidden: not_eligible, not_your_grid.
    :raises Conflict: voting_closed.
    :raises Invalid: unknown_project, duplicate_project, bad_points, too_few_choices,
        too_many_choices, over_budget; idempotency_key_reused.
    """
    choices = list(choices)
    if idempotency and (stored := _stored_answer(session, idempotency)):
        return stored
    resident = eligible_resident(voter, cycle)
    _check_worker(channel, worker, resident)
    ensure_voting_open(cycle, now)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if not postgres:  # PostgreSQL reads the ballot's costs with the chain head below: a round trip less
        costs = ballot_costs(session, cycle)
        validate_choices(BallotRules.of(cycle), costs, choices)

    roll_id, has_voted, roll_channel = _lock_roll_entry(session, cycle.id, resident.id)
    if idempotency and (stored := _stored_answer(session, idempotency)):
        return stored
    frozen = cycle.rules_frozen_at is not None
    if not frozen:
        _freeze_rules(session, cycle, now)
    code = voter_code(current_app.config["SECRET_KEY"], cycle.id, resident.id)
    step = _advance_postgresql(connection, cycle.id, code) if postgres else _advance_sqlite(connection, cycle.id, code)
    if frozen and step.window:
        ensure_voting_open(Cycle(phase=step.window[0], voting_opens_at=step.window[1],
                                 voting_closes_at=step.window[2]), now)
    chosen = validate_choices(BallotRules.of(cycle), step.costs if postgres else costs, choices)

    version, receipt = step.previous_version + 1, new_receipt()
    row = canonical_row(seq=step.seq, voter_code=code, version=version, channel=channel,
                        worker=worker.username if worker else None, choices=chosen.items(), cast_at=now,
                        receipt=receipt)
    ballot = {"cycle_id": cycle.id, "voter_code": code, "version": version, "channel": channel,
              "worker_id": worker.id if worker else None, "cast_at": now, "receipt": receipt, "is_current": True,
              "seq": step.seq, "chain_hash": next_hash(step.head_hash, row)}
    mark_voted = not has_voted or roll_channel != channel
    ballot_id = (_record_postgresql if postgres else _record_sqlite)(connection, ballot, sorted(chosen.items()),
                                                                     roll_id, mark_voted)
    _expire_copies(session, (RollEntry, roll_id), (BallotChain, cycle.id),
                   *([(Ballot, step.superseded_id)] if step.superseded_id else []))
    answer = {"receipt": receipt, "cast_at": _iso(now), "version": version}
    if idempotency:
        connection.execute(insert(IdempotentAnswer.__table__), {
            "user_id": idempotency.user_id, "key": idempotency.key, "request_hash": idempotency.request_hash,
            "status": 200, "body": json.dumps(answer)})
    return CastOutcome(answer, False, ballot_id)


def current_ballot(session, cycle: Cycle, voter: User | Resident) -> Ballot | None:
    """The voter's current ballot in the cycle (for the voter's own eyes only), or None."""
    resident = voter.resident if isinstance(voter, User) else voter
    if resident is None:
        return None
    code = voter_code(current_app.config["SECRET_KEY"], cycle.id, resident.id)
    return session.scalar(select(Ballot).where(Ballot.cycle_id == cycle.id, Ballot.voter_code == code,
                                               Ballot.is_current))


def chosen_projects(session, ballot: Ballot) -> list[tuple[Project, int]]:
    """The ballot's projects with their points, in project order."""
    points = {c.project_id: c.points for c in ballot.choices}
    projects = session.scalars(select(Project).where(Project.id.in_(points)).order_by(Project.id))
    return [(p, points[p.id]) for p in projects]


def find_receipt(session, text: str) -> Ballot | None:
    """The recorded ballot with this receipt code (typed in any common way), or None."""
    receipt = normalise_receipt(text)
    if receipt is None:
        return None
    return session.scalar(select(Ballot).where(Ballot.receipt == receipt))


def receipt_answer(ballot: Ballot | None) -> dict:
    """The public answer about a receipt: never the choices, never the voter."""
    if ballot is None:
        return {"found": False}
    return {"found": True, "cycle": ballot.cycle_id, "recorded_at": _iso(ballot.cast_at),
            "superseded": not ballot.is_current}


def issue_voting_code(session, resident: Resident) -> str:
    """Give the resident a new personal voting code (any earlier one stops working).

    Returns the code in plain text, the only time it exists outside the resident's hands: only
    its hash is stored.
    """
    code = new_voting_code()
    resident.voting_code_hash = generate_password_hash(normalise_voting_code(code))
    session.flush()
    return code


def confirm_resident(session, resident: Resident, credential: str) -> None:
    """Check the credential a resident gives to confirm an assisted ballot: the password of their
    own account, or their personal voting code.

    :raises Forbidden: bad_credential when it is neither.
    """
    credential = credential or ""
    account = session.scalar(select(User).where(User.resident_id == resident.id))
    if credential and account is not None and account.is_enabled \
            and check_password_hash(account.password_hash, credential):
        return
    digits = normalise_voting_code(credential)
    if digits and resident.voting_code_hash and check_password_hash(resident.voting_code_hash, digits):
        return
    raise Forbidden(_("That is not the resident's password or personal voting code. Ask the resident "
                      "to type it again."), "bad_credential")


def grid_residents(session, worker: User, search: str = "") -> list[Resident]:
    """The active residents of a grid worker's own grid, by name (optionally filtered)."""
    stmt = select(Resident).where(Resident.grid_id == worker.grid_id, Resident.status == "active")
    if search.strip():
        like = f"%{search.strip()}%"
        stmt = stmt.where(Resident.name.like(like) | Resident.address.like(like))
    return list(session.scalars(stmt.order_by(Resident.name, Resident.id).limit(500)))


def resident_of_my_grid(session, worker: User, resident_id: int) -> Resident:
    """:raises NotFound: unknown resident. :raises Forbidden: not_your_grid."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(_("There is no such resident."), "unknown_resident")
    if worker.role != "grid_worker" or worker.grid_id != resident.grid_id:
        raise Forbidden(_("You can record ballots only for residents of your own grid."), "not_your_grid")
    return resident


@dataclass(frozen=True)
class AssistedHour:
    worker: str
    hour: datetime  # the hour's start, naive UTC
    ballots: int


def assisted_counts(session, user: User, cycle: Cycle) -> list[AssistedHour]:
    """How many assisted ballots each worker recorded in each hour (every version counts).
    Counts only: never which resident, never which choices.

    :raises Forbidden: for anyone but staff of the cycle's community, the district admin and auditors.
    """
    if user.role not in ("staff", "admin", "auditor") or not user.can_act_in(cycle.community_id):
        raise Forbidden(_("Only the community's staff, the district admin and auditors see this."))
    rows = session.execute(
        select(User.username, Ballot.cast_at).join(User, User.id == Ballot.worker_id)
        .where(Ballot.cycle_id == cycle.id, Ballot.channel == "assisted")
    )
    counts = Counter((username, cast_at.replace(minute=0, second=0, microsecond=0)) for username, cast_at in rows)
    return [AssistedHour(worker, hour, n) for (worker, hour), n in sorted(counts.items())]


def _stored_answer(session, idempotency: Idempotency) -> CastOutcome | None:
    stored = session.scalar(select(IdempotentAnswer).where(IdempotentAnswer.user_id == idempotency.user_id,
                                                           IdempotentAnswer.key == idempotency.key))
    if stored is None:
        return None
    if stored.request_hash != idempotency.request_hash:
        raise Invalid(_("This Idempotency-Key was already used for a different ballot; send a new key."),
                      "idempotency_key_reused")
    return CastOutcome(json.loads(stored.body), True, None)


@dataclass(frozen=True)
class _Advance:
    """The voter's superseded ballot (id, version; 0 for a first ballot), the chain's next seq and
    its hash before this ballot; on PostgreSQL also the voting window re-read after the roll lock and
    the ballot's costs."""

    superseded_id: int | None
    previous_version: int
    seq: int
    head_hash: str
    window: tuple | None = None
    costs: dict[int, int] | None = None


class _Statements:
    """The casting path's statements, built once per dialect: reusing a statement object saves
    building it and computing its cache key on every cast."""

    def __init__(self, dialect: str):
        upsert = (postgresql if dialect == "postgresql" else sqlite).insert
        ballot, choice, chain = Ballot.__table__, BallotChoice.__table__, BallotChain.__table__
        roll, project = RollEntry.__table__, Project.__table__
        self.costs = (select(project.c.id, project.c.cost_fen, project.c.estimated_cost_fen)
                      .where(project.c.cycle_id == bindparam("cycle"), project.c.status == "on_ballot"))
        # Insert the roll entry, or "update" it to itself: either way the row is locked.
        self.lock_roll = (upsert(roll).on_conflict_do_update(index_elements=["cycle_id", "resident_id"],
                                                             set_={"has_voted": roll.c.has_voted})
                          .returning(roll.c.id, roll.c.has_voted, roll.c.channel))
        # The current ballot is the voter's highest version.
        self.supersede = (update(ballot).where(ballot.c.cycle_id == bindparam("cycle"),
                                               ballot.c.voter_code == bindparam("code"), ballot.c.is_current)
                          .values(is_current=False).returning(ballot.c.id, ballot.c.version))
        # Create the head at the genesis (seq 1 next) or take the next seq: either way locked, and
        # the head's hash is still the one before this ballot.
        self.advance_chain = (upsert(chain).on_conflict_do_update(index_elements=["cycle_id"],
                                                                  set_={"last_seq": chain.c.last_seq + 1})
                              .returning(chain.c.last_seq, chain.c.head_hash))
        self.insert_ballot = insert(ballot).returning(ballot.c.id)
        self.insert_choices = insert(choice)
        self.set_chain_head = (update(chain).where(chain.c.cycle_id == bindparam("cycle"))
                               .values(head_hash=bindparam("head")))
        self.mark_voted = (update(roll).where(roll.c.id == bindparam("roll"))
                           .values(has_voted=True, channel=bindparam("voted_channel")))


@functools.cache
def _statements(dialect: str) -> _Statements:
    return _Statements(dialect)


def _sql(session) -> _Statements:
    return _statements(session.get_bind().dialect.name)


def _lock_roll_entry(session, cycle_id: int, resident_id: int) -> tuple[int, bool, str | None]:
    """Insert or lock the resident's roll entry; (its id, has_voted, channel)."""
    return tuple(session.connection().execute(
        _sql(session).lock_roll, {"cycle_id": cycle_id, "resident_id": resident_id, "has_voted": False}).one())


def _freeze_rules(session, cycle: Cycle, now: datetime) -> None:
    """Fix the cycle's rules at its first ballot, then re-read them (what a concurrent rule change
    committed before the freeze is what this ballot is checked against) and check the window again.

    :raises Conflict: voting_closed.
    """
    session.execute(
        update(Cycle).where(Cycle.id == cycle.id, Cycle.rules_frozen_at.is_(None)).values(rules_frozen_at=now)
        .execution_options(synchronize_session=False)
    )
    session.refresh(cycle)
    ensure_voting_open(cycle, now)


def _advance_sqlite(connection, cycle_id: int, code: str) -> _Advance:
    """Supersede the current ballot and advance the chain, one statement each. No window re-read:
    on SQLite a transaction that read a state since overwritten cannot write at all (WAL
    snapshots; a request that may write even starts with `BEGIN IMMEDIATE`)."""
    sql = _statements("sqlite")
    superseded = connection.execute(sql.supersede, {"cycle": cycle_id, "code": code}).one_or_none()
    seq, head_hash = connection.execute(sql.advance_chain, {"cycle_id": cycle_id, "last_seq": 1,
                                                            "head_hash": genesis_hash(cycle_id)}).one()
    return _Advance(superseded.id if superseded else None, superseded.version if superseded else 0, seq, head_hash)


def _record_sqlite(connection, ballot: dict, chosen: list[tuple[int, int]], roll_id: int, mark_voted: bool) -> int:
    """Insert the ballot and its choices, move the chain head, mark the roll entry; the ballot's id."""
    sql = _statements("sqlite")
    ballot_id = connection.execute(sql.insert_ballot, ballot).scalar_one()
    if chosen:
        connection.execute(sql.insert_choices, [{"ballot_id": ballot_id, "project_id": p, "points": n}
                                                for p, n in chosen])
    connection.execute(sql.set_chain_head, {"cycle": ballot["cycle_id"], "head": ballot["chain_hash"]})
    if mark_voted:
        connection.execute(sql.mark_voted, {"roll": roll_id, "voted_channel": ballot["channel"]})
    return ballot_id


# PostgreSQL takes each step in one statement (data-modifying WITH), a round trip each. Every
# statement reads a fresh snapshot, so the window read here is the state after the roll lock.
_ADVANCE_POSTGRESQL = text("""
WITH superseded AS (
    UPDATE ballot SET is_current = false WHERE cycle_id = :cycle AND voter_code = :code AND is_current
    RETURNING id, version),
head AS (
    INSERT INTO ballot_chain (cycle_id, last_seq, head_hash) VALUES (:cycle, 1, :genesis)
    ON CONFLICT (cycle_id) DO UPDATE SET last_seq = ballot_chain.last_seq + 1
    RETURNING last_seq, head_hash)
SELECT (SELECT id FROM superseded), (SELECT version FROM superseded), head.last_seq, head.head_hash,
       cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at,
       ARRAY(SELECT id FROM project WHERE cycle_id = :cycle AND status = 'on_ballot' ORDER BY id),
       ARRAY(SELECT COALESCE(cost_fen, estimated_cost_fen) FROM project
             WHERE cycle_id = :cycle AND status = 'on_ballot' ORDER BY id)
FROM head JOIN cycle ON cycle.id = :cycle
""")
_RECORD_POSTGRESQL = text("""
WITH new_ballot AS (
    INSERT INTO ballot (cycle_id, voter_code, version, channel, worker_id, cast_at, receipt, is_current, seq,
                        chain_hash)
    VALUES (:cycle_id, :voter_code, :version, :channel, :worker_id, :cast_at, :receipt, :is_current, :seq,
            :chain_hash)
    RETURNING id),
choices AS (
    INSERT INTO ballot_choice (ballot_id, project_id, points)
    SELECT new_ballot.id, chosen.project_id, chosen.points
    FROM new_ballot, unnest(CAST(:projects AS integer[]), CAST(:points AS integer[])) AS chosen (project_id, points)),
head AS (UPDATE ballot_chain SET head_hash = :chain_hash WHERE cycle_id = :cycle_id),
roll AS (UPDATE roll_entry SET has_voted = true, channel = :channel WHERE id = :roll AND CAST(:mark AS boolean))
SELECT id FROM new_ballot
""")


def _advance_postgresql(connection, cycle_id: int, code: str) -> _Advance:
    """`_advance_sqlite` in one statement, with the voting window re-read after the roll lock and
    the ballot's costs (the choices are checked once, here, rather than before the lock too)."""
    row = connection.execute(_ADVANCE_POSTGRESQL, {"cycle": cycle_id, "code": code,
                                                   "genesis": genesis_hash(cycle_id)}).one()
    return _Advance(row[0], row[1] or 0, row[2], row[3], tuple(row[4:7]), dict(zip(row[7], row[8])))


def _record_postgresql(connection, ballot: dict, chosen: list[tuple[int, int]], roll_id: int,
                       mark_voted: bool) -> int:
    """`_record_sqlite` in one statement."""
    return connection.execute(_RECORD_POSTGRESQL, ballot | {
        "projects": [p for p, _n in chosen], "points": [n for _p, n in chosen], "roll": roll_id,
        "mark": mark_voted}).scalar_one()


def _expire_copies(session, *keys) -> None:
    """Expire the session's copies of rows changed by Core statements (so they are read afresh)."""
    for model, primary_key in keys:
        held = session.identity_map.get(identity_key(model, primary_key))
        if held is not None and object_session(held) is session:
            session.expire(held)


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"
