"""Casting ballots (online, assisted, paper), revising them, receipts, and personal voting codes.

How one cast runs, in one transaction (the view commits):

1. refuse what can be refused without a lock: not eligible (403 not_eligible), the wrong worker
   (403 not_your_grid), a closed vote (409 voting_closed); replay the stored answer when the
   `Idempotency-Key` was seen before;
2. lock the cycle's chain head, the first write (`INSERT … ON CONFLICT DO UPDATE … RETURNING`:
   created at the genesis, or "updated" to itself; either way locked until the commit). Every
   cast of the cycle queues here, so the chain grows one ballot at a time and each resident's
   versions follow each other without gap or repeat. On SQLite the cast's transaction, and its
   write lock, begins here (`database.reads_before_lock`): the sign-in and the checks above ran
   before it (the API reads its bearer token with the cycle, `cycle_for_casting`);
3. look again for a stored answer to the key;
4. read again, now that nobody else can change them for this cycle, the voting window (closing
   the vote takes the chain head too, see `results.services.ensure_result`) and the ballot's
   costs, and mark the voter's current ballot superseded (`UPDATE … RETURNING` its version);
   freeze the cycle's rules at the first ballot; check the window and the choices (422, see
   `rules.py`);
5. record the ballot (the next link of the hash chain, `chain.py`) and its choices, move the chain
   head, and mark the roll entry (that the resident voted, and how); with a key, store the answer.

The path reads the cycle and writes with statements run on the driver's own cursor
(`database.DriverStatement`: no unit-of-work flush, none of SQLAlchemy's work per statement); on
PostgreSQL steps 2 to 4 are one statement and step 5 another (data-modifying WITH; the first
checks that its snapshot is no older than its lock, see `_LOCK_AND_STATE_POSTGRESQL`); copies of
the rows it changed that the session already holds are expired. The partial unique index on `ballot (cycle_id, voter_code) WHERE is_current`
is the database's own guarantee of one current ballot; `@transactional` retries deadlocks,
serialisation failures and the (60-bit, practically never) clash of a new receipt code with an
old one.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, column, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash, generate_password_hash

from ..accounts.models import User
from ..accounts.services import Bearer, ResidentFacts, bearer_of, bearer_query, token_hash
from ..cycles.models import Cycle, VotingWindow
from ..database import DriverStatement, per_dialect
from ..errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
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


def eligible_resident(voter: User | Bearer | Resident, cycle: Cycle | CastingCycle
                      ) -> Resident | ResidentFacts:
    """The registry resident who may vote in the cycle: an active resident of its community
    (reached through their resident account, or directly for assisted and paper ballots).

    :raises Forbidden: not_eligible otherwise.
    """
    if isinstance(voter, (User, Bearer)):
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


def ensure_voting_open(window: VotingWindow, now: datetime) -> None:
    """:raises Conflict: voting_closed outside the voting window (server time)."""
    if not window.is_voting_open(now):
        raise Conflict(_("Voting is not open: ballots are taken only between the published opening "
                         "and closing times."), "voting_closed")


def ballot_costs(session, cycle: Cycle) -> dict[int, int]:
    """The cost in fen of every project on the cycle's ballot (the reviewed cost, else the estimate)."""
    rows = session.execute(select(Project.id, Project.cost_fen, Project.estimated_cost_fen)
                           .where(Project.cycle_id == cycle.id, Project.status == "on_ballot"))
    return {project_id: estimated if cost is None else cost for project_id, cost, estimated in rows}


@dataclass(frozen=True)
class CastingCycle:
    """What casting reads of a cycle before it re-reads under the lock: its community, voting window
    and rules."""

    id: int
    community_id: int
    window: VotingWindow
    rules: BallotRules
    rules_frozen: bool

    @classmethod
    def of(cls, cycle) -> CastingCycle:
        """From a `Cycle`, or a row of the casting path's cycle statement."""
        return cls(cycle.id, cycle.community_id,
                   VotingWindow(cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at),
                   BallotRules.of(cycle), cycle.rules_frozen_at is not None)


def cycle_for_casting(session, cycle_id: int, token: str | None) -> tuple[Bearer, CastingCycle]:
    """The bearer of an API `token` and the cycle its ballot is cast in, read in one statement (for a
    view marked `accounts.access.reads_own_token`).

    :raises Unauthorized: a missing, unknown or ended token (before an unknown cycle: the cycles
        are not probed without signing in).
    :raises NotFound: unknown_cycle.
    """
    connection = session.connection()
    sql = _sql(connection)
    rows = sql.casting_start.rows(connection, {"token_hash": token_hash(token), "id": cycle_id}) if token else []
    if not rows or (bearer := bearer_of(rows[0])) is None:
        raise Unauthorized(_("Please sign in first."))
    row = rows[0]
    if row.id is None:
        raise NotFound(_("There is no cycle %(id)s.", id=cycle_id), "unknown_cycle")
    return bearer, CastingCycle.of(row)


def check_choices(session, cycle: Cycle, voter: User | Resident, pairs, now: datetime) -> dict[int, int]:
    """Check a ballot before it is cast (the confirm step): eligible, open, within the rules.

    :raises Forbidden, Conflict, Invalid: as `cast_ballot`.
    """
    eligible_resident(voter, cycle)
    ensure_voting_open(cycle.window, now)
    return validate_choices(BallotRules.of(cycle), ballot_costs(session, cycle), pairs)


def cast_ballot(session, cycle: Cycle | CastingCycle, voter: User | Bearer | Resident, choices, channel: str,
                worker: User | None, now: datetime, *, idempotency: Idempotency | None = None) -> CastOutcome:
    """Record a ballot (or a new version of the voter's ballot) and return the receipt.

    `choices` are (project id, points) pairs as sent; points are 1 except in cumulative voting.

    :raises Forbidden: not_eligible, not_your_grid.
    :raises Conflict: voting_closed.
    :raises Invalid: unknown_project, duplicate_project, bad_points, too_few_choices,
        too_many_choices, over_budget; idempotency_key_reused.
    """
    choices = list(choices)
    if isinstance(cycle, Cycle):
        cycle = CastingCycle.of(cycle)
    connection = session.connection()
    sql = _sql(connection)
    if idempotency and (stored := sql.stored_answer(connection, idempotency)):
        return _replay(stored, idempotency)
    resident = eligible_resident(voter, cycle)
    _check_worker(channel, worker, resident)
    ensure_voting_open(cycle.window, now)
    code, receipt = voter_code(current_app.config["SECRET_KEY"], cycle.id, resident.id), new_receipt()
    locked = sql.lock_and_read(connection, cycle.id, code, idempotency)  # on SQLite the write lock from here
    if locked.stored:
        return _replay(locked.stored, idempotency)
    state = locked.state
    rules = cycle.rules if cycle.rules_frozen else _freeze_rules(session, cycle.id, now)
    ensure_voting_open(state.window, now)
    chosen = validate_choices(rules, state.costs, choices)

    seq, version = locked.seq + 1, state.previous_version + 1
    row = canonical_row(seq=seq, voter_code=code, version=version, channel=channel,
                        worker=worker.username if worker else None, choices=chosen.items(), cast_at=now,
                        receipt=receipt)
    ballot = {"cycle_id": cycle.id, "voter_code": code, "version": version, "channel": channel,
              "worker_id": worker.id if worker else None, "cast_at": now, "receipt": receipt, "is_current": True,
              "seq": seq, "chain_hash": next_hash(locked.head_hash, row)}
    ballot_id, roll_id = sql.record(connection, ballot, sorted(chosen.items()), resident.id)
    _expire_copies(session, (BallotChain, cycle.id), *([(RollEntry, roll_id)] if roll_id else []),
                   *([(Ballot, state.superseded_id)] if state.superseded_id else []))
    answer = {"receipt": receipt, "cast_at": _iso(now), "version": version}
    if idempotency:
        connection.execute(insert(IdempotentAnswer.__table__), {
            "user_id": idempotency.user_id, "key": idempotency.key, "request_hash": idempotency.request_hash,
            "status": 200, "body": json.dumps(answer)})
    return CastOutcome(answer, False, ballot_id)


def lock_chain_head(session, cycle_id: int) -> tuple[int, str]:
    """Lock the cycle's chain head until the commit, creating it at the genesis; (last_seq, head_hash)."""
    connection = session.connection()
    (seq, head_hash), = _sql(connection).lock_chain.rows(connection, {"cycle": cycle_id,
                                                                      "genesis": genesis_hash(cycle_id)})
    return seq, head_hash


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


def _replay(stored: tuple[str, str], idempotency: Idempotency) -> CastOutcome:
    """The stored answer (request hash, body) to the key, replayed.

    :raises Invalid: idempotency_key_reused, when it answered a different request.
    """
    request_hash, body = stored
    if request_hash != idempotency.request_hash:
        raise Invalid(_("This Idempotency-Key was already used for a different ballot; send a new key."),
                      "idempotency_key_reused")
    return CastOutcome(json.loads(body), True, None)


@dataclass(frozen=True)
class _State:
    """What a cast reads once the chain head is locked: the voter's superseded ballot (id, version;
    0 for a first ballot), the cycle's voting window and the cost of every project on the ballot."""

    superseded_id: int | None
    previous_version: int
    window: VotingWindow
    costs: dict[int, int]

    @classmethod
    def of(cls, superseded: tuple, rows) -> _State:
        """From the superseded (id, version) and rows (phase, opens, closes, project id, cost)."""
        window, costs = None, {}
        for phase, opens_at, closes_at, project_id, cost in rows:
            window = window or VotingWindow(phase, opens_at, closes_at)
            if project_id is not None:
                costs[project_id] = cost
        return cls(superseded[0], superseded[1] or 0, window, costs)


@dataclass(frozen=True)
class _Locked:
    """What a cast reads as it locks the chain head: the head (last seq, head hash), the answer
    already stored for its idempotency key (request hash, body; then nothing else was done), and
    the `_State`."""

    seq: int
    head_hash: str
    stored: tuple[str, str] | None
    state: _State | None


# The cycle's window with the cost of each project on its ballot (a row a project, or one row with
# no project).
_WINDOW_AND_COSTS = """
SELECT cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at, project.id,
       COALESCE(project.cost_fen, project.estimated_cost_fen)
FROM cycle LEFT JOIN project ON project.cycle_id = cycle.id AND project.status = 'on_ballot'
WHERE cycle.id = :cycle"""


class _Statements:
    """The casting path's statements for one dialect, run on the driver's cursor (`DriverStatement`:
    a sixth of a cast was SQLAlchemy's work for each statement)."""

    def __init__(self, dialect):
        self.postgres = dialect.name == "postgresql"
        upsert = (postgresql if self.postgres else sqlite).insert
        ballot, choice, chain, roll = (Ballot.__table__, BallotChoice.__table__, BallotChain.__table__,
                                       RollEntry.__table__)
        c = Cycle.__table__.c
        cycle_columns = (c.id, c.community_id, c.phase, c.voting_opens_at, c.voting_closes_at, c.method,
                         c.min_choices, c.max_choices, c.points, c.fund_fen, c.rules_frozen_at)
        self.cycle = DriverStatement(select(*cycle_columns).where(c.id == bindparam("id")), dialect)
        # Create the head at the genesis, or "update" it to itself: either way it is locked.
        self.lock_chain = DriverStatement(
            upsert(chain).values(cycle_id=bindparam("cycle"), last_seq=0, head_hash=bindparam("genesis"))
            .on_conflict_do_update(index_elements=["cycle_id"], set_={"last_seq": chain.c.last_seq})
            .returning(chain.c.last_seq, chain.c.head_hash), dialect)
        self.casting_start = DriverStatement(_casting_start(cycle_columns), dialect)
        stored = IdempotentAnswer.__table__.c
        self.stored_answer_of = DriverStatement(select(stored.request_hash, stored.body).where(
            stored.user_id == bindparam("user"), stored.key == bindparam("key")), dialect)
        if self.postgres:  # steps 2 to 4, and step 5, in one statement each (data-modifying WITH)
            self.lock_and_state, self.record_all = (DriverStatement(_LOCK_AND_STATE_POSTGRESQL, dialect),
                                                    DriverStatement(_RECORD_POSTGRESQL, dialect))
            return
        # The current ballot is the voter's highest version.
        self.supersede = DriverStatement(
            update(ballot).where(ballot.c.cycle_id == bindparam("cycle"), ballot.c.voter_code == bindparam("code"),
                                 ballot.c.is_current).values(is_current=False).returning(ballot.c.id, ballot.c.version),
            dialect)
        self.window_and_costs = DriverStatement(text(_WINDOW_AND_COSTS).columns(  # typed: SQLite's datetimes are text
            Cycle.phase, Cycle.voting_opens_at, Cycle.voting_closes_at, Project.id, Project.cost_fen), dialect)
        self.insert_ballot = DriverStatement(
            insert(ballot).values({name: bindparam(name) for name in _BALLOT_COLUMNS}).returning(ballot.c.id), dialect)
        self.insert_choices = DriverStatement(insert(choice).values(
            ballot_id=bindparam("ballot_id"), project_id=bindparam("project_id"), points=bindparam("points")), dialect)
        self.move_head = DriverStatement(update(chain).where(chain.c.cycle_id == bindparam("cycle"))
                                         .values(last_seq=bindparam("seq"), head_hash=bindparam("head")), dialect)
        # The roll entry says the resident voted, and by the channel of the latest ballot.
        voted = upsert(roll).values(cycle_id=bindparam("cycle"), resident_id=bindparam("resident"), has_voted=True,
                                    channel=bindparam("channel"))
        self.mark_voted = DriverStatement(
            voted.on_conflict_do_update(index_elements=["cycle_id", "resident_id"],
                                        set_={"has_voted": True, "channel": voted.excluded.channel},
                                        where=roll.c.channel.is_distinct_from(voted.excluded.channel))
            .returning(roll.c.id), dialect)

    def stored_answer(self, connection, idempotency: Idempotency) -> tuple[str, str] | None:
        """The answer stored for the idempotency key: (request hash, body), or None."""
        rows = self.stored_answer_of.rows(connection, {"user": idempotency.user_id, "key": idempotency.key})
        return tuple(rows[0]) if rows else None

    def lock_and_read(self, connection, cycle_id: int, code: str, idempotency: Idempotency | None) -> _Locked:
        """Lock the cycle's chain head; unless an answer is stored for the key, supersede the voter's
        current ballot and read the window and the costs (steps 2 to 4)."""
        values = {"cycle": cycle_id, "genesis": genesis_hash(cycle_id), "code": code,
                  "user": idempotency.user_id if idempotency else None, "key": idempotency.key if idempotency else None}
        if self.postgres:
            rows = self.lock_and_state.rows(connection, values)
            if rows[0].last_seq is None:  # a cast or a close committed while this one waited: again, still locked
                rows = self.lock_and_state.rows(connection, values)
            first = rows[0]
            if first.last_seq is None:
                raise RuntimeError(f"the chain head of cycle {cycle_id} moved while locked")
            stored = (first.request_hash, first.body) if first.request_hash is not None else None
            state = None if stored else _State.of((first.superseded_id, first.previous_version),
                                                  (tuple(row)[6:] for row in rows))
            return _Locked(first.last_seq, first.head_hash, stored, state)
        (seq, head_hash), = self.lock_chain.rows(connection, values)
        if idempotency and (stored := self.stored_answer(connection, idempotency)):
            return _Locked(seq, head_hash, stored, None)
        superseded = self.supersede.rows(connection, values)
        state = _State.of(superseded[0] if superseded else (None, None), self.window_and_costs.rows(connection, values))
        return _Locked(seq, head_hash, None, state)

    def record(self, connection, ballot: dict, chosen: list[tuple[int, int]], resident_id: int) -> tuple:
        """Insert the ballot and its choices, move the chain head, mark the roll entry; the ballot's
        id and the roll entry's (None when it did not change)."""
        marks = {"cycle": ballot["cycle_id"], "resident": resident_id, "channel": ballot["channel"]}
        if self.postgres:
            return tuple(self.record_all.rows(connection, ballot | marks | {
                "projects": [p for p, _n in chosen], "points": [n for _p, n in chosen]})[0])
        (ballot_id,), = self.insert_ballot.rows(connection, ballot)
        if chosen:
            self.insert_choices.run_many(connection, [{"ballot_id": ballot_id, "project_id": p, "points": n}
                                                      for p, n in chosen])
        self.move_head.rows(connection, {"cycle": ballot["cycle_id"], "seq": ballot["seq"],
                                         "head": ballot["chain_hash"]})
        marked = self.mark_voted.rows(connection, marks)
        return ballot_id, marked[0][0] if marked else None


_BALLOT_COLUMNS = ("cycle_id", "voter_code", "version", "channel", "worker_id", "cast_at", "receipt", "is_current",
                   "seq", "chain_hash")


@per_dialect
def _sql(dialect) -> _Statements:
    return _Statements(dialect)


def _freeze_rules(session, cycle_id: int, now: datetime) -> BallotRules:
    """Fix the cycle's rules at its first ballot, then read them again (what a concurrent rule change
    committed before the freeze is what this ballot is checked against)."""
    cycle = Cycle.__table__
    connection = session.connection()
    connection.execute(update(cycle).where(cycle.c.id == cycle_id, cycle.c.rules_frozen_at.is_(None))
                       .values(rules_frozen_at=now))
    _expire_copies(session, (Cycle, cycle_id))
    return BallotRules.of(_sql(connection).cycle.rows(connection, {"id": cycle_id})[0])


def _casting_start(cycle_columns):
    """The token's bearer (`accounts.services.bearer_query`) with the cycle `id` (its columns None
    when unknown), or no row for an unknown token. A plain SELECT: SQLite's write lock waits for the
    first write (`database.reads_before_lock`)."""
    bearer, cycle = bearer_query().subquery("bearer"), Cycle.__table__
    return select(bearer, *cycle_columns).select_from(bearer.outerjoin(cycle, cycle.c.id == bindparam("id")))


# PostgreSQL takes steps 2 to 4 in one statement. Its snapshot is taken before it waits for the lock:
# it is current only if nobody moved the chain head in between (every cast and every close writes a
# new version of the head row, with a new xmin). When somebody did, the head is locked but not
# returned, nothing is superseded, and the statement runs again, now with a current snapshot.
_LOCK_AND_STATE_POSTGRESQL = text("""
WITH head AS (
    INSERT INTO ballot_chain (cycle_id, last_seq, head_hash) VALUES (:cycle, 0, :genesis)
    ON CONFLICT (cycle_id) DO UPDATE SET last_seq = ballot_chain.last_seq
    WHERE ballot_chain.xmin = (SELECT xmin FROM ballot_chain WHERE cycle_id = :cycle)
    RETURNING last_seq, head_hash),
stored AS (SELECT request_hash, body FROM idempotent_answer WHERE user_id = :user AND key = :key),
superseded AS (
    UPDATE ballot SET is_current = false
    WHERE cycle_id = :cycle AND voter_code = :code AND is_current
      AND EXISTS (SELECT FROM head) AND NOT EXISTS (SELECT FROM stored)
    RETURNING id, version)
SELECT head.last_seq, head.head_hash, stored.request_hash, stored.body,
       (SELECT id FROM superseded), (SELECT version FROM superseded), state.*
FROM (""" + _WINDOW_AND_COSTS + """) AS state LEFT JOIN head ON true LEFT JOIN stored ON true
""").columns(BallotChain.last_seq, BallotChain.head_hash, IdempotentAnswer.request_hash, IdempotentAnswer.body,
             column("superseded_id", Integer), column("previous_version", Integer), Cycle.phase,
             Cycle.voting_opens_at, Cycle.voting_closes_at, Project.id, Project.cost_fen)
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
head AS (UPDATE ballot_chain SET last_seq = :seq, head_hash = :chain_hash WHERE cycle_id = :cycle_id),
roll AS (
    INSERT INTO roll_entry (cycle_id, resident_id, has_voted, channel) VALUES (:cycle, :resident, true, :channel)
    ON CONFLICT (cycle_id, resident_id) DO UPDATE SET has_voted = true, channel = excluded.channel
    WHERE roll_entry.channel IS DISTINCT FROM excluded.channel
    RETURNING id)
SELECT (SELECT id FROM new_ballot), (SELECT id FROM roll)
""").columns(column("ballot_id", Integer), column("roll_id", Integer))


def _expire_copies(session, *keys) -> None:
    """Expire the session's copies of rows changed behind its back (so they are read afresh)."""
    if not len(session.identity_map):  # the API's casts hold none: no keys to build
        return
    for model, primary_key in keys:
        held = session.identity_map.get(identity_key(model, primary_key))
        if held is not None and object_session(held) is session:
            session.expire(held)


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"
