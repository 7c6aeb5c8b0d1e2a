"""Casting ballots (online, assisted, paper), revising them, receipts, and personal voting codes.

How one cast runs, in one transaction (the view commits):

1. refuse what can be refused without a lock: not eligible (403 not_eligible: not a resident of
   the community, or registered after voting opened), the wrong worker (403 not_your_grid), a
   closed vote (409 voting_closed), a server without the key of the cycle's voter codes (409
   voter_key_unknown); replay the stored answer when the `Idempotency-Key` was seen before;
2. lock the cycle's chain head, the first write (`INSERT … ON CONFLICT DO UPDATE … RETURNING`:
   created at the genesis with the fingerprint of this server's key, or "updated" to itself; either
   way locked until the commit). Every
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
   head, and mark the roll entry (that the resident voted, how, and which worker entered it: the
   ballot itself has neither); with a key, store the answer (no choices, no account, expiring).

The path reads the cycle and writes with statements run on the driver's own cursor
(`database.DriverStatement`: no unit-of-work flush, none of SQLAlchemy's work per statement); on
PostgreSQL steps 2 to 4 are one statement and step 5 another (data-modifying WITH; the first
checks that its snapshot is no older than its lock, see `_LOCK_AND_STATE_POSTGRESQL`); copies of
the rows it changed that the session already holds are expired. The partial unique index on `ballot (cycle_id, voter_code) WHERE is_current`
is the database's own guarantee of one current ballot per voter code, and the ballot's foreign key
to its chain head's key (`models.Ballot`) that no other key makes voter codes for the cycle;
`@transactional` retries deadlocks,
serialisation failures and the (60-bit, practically never) clash of a new receipt code with an
old one.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, column, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key
from werkzeug.security import check_password_hash, generate_password_hash

from ..accounts.models import User
from ..accounts.policy import require_own_grid, require_voter, require_worker_counts
from ..accounts.services import Bearer, ResidentFacts, bearer_of, bearer_query, token_hash
from ..config import secret_keys
from ..cycles.models import Cycle, VotingWindow
from ..cycles.electorate import facts_at_opening, in_electorate, is_of_age
from ..database import DriverStatement, per_dialect
from ..enums import Channel, ProjectStatus
from ..errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from ..proposals.models import Project
from ..residents.models import Resident
from .chain import canonical_row, genesis_hash, next_hash
from .codes import (key_fingerprint, key_with_fingerprint, new_receipt, new_voting_code, normalise_receipt,
                    normalise_voting_code, voter_code, voting_code_tag)
from .models import Ballot, BallotChain, BallotChoice, IdempotentAnswer, RollEntry
from .rules import BallotRules, validate_choices


# How long a stored answer to an `Idempotency-Key` is replayed (never past the vote's close).
IDEMPOTENT_ANSWER_HOURS = 6


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` of the acting user, as stored: a hash of (account, key), and a hash of the
    request salted with it (nothing stored names the account, and the few possible choices cannot be
    guessed from the request's hash)."""

    key_hash: str
    request_hash: str

    @classmethod
    def of(cls, user_id: int, key: str, cycle_id: int, pairs) -> Idempotency:
        key_hash = hashlib.sha256(f"idempotency:{user_id}:{key}".encode()).hexdigest()
        canonical = sorted((str(project), str(points)) for project, points in pairs)
        return cls(key_hash, hashlib.sha256(json.dumps([key_hash, cycle_id, canonical]).encode()).hexdigest())


@dataclass(frozen=True)
class CastOutcome:
    """The answer to a cast: {receipt, cast_at, version}; `replayed` when it is a stored answer."""

    answer: dict
    replayed: bool
    ballot_id: int | None


def eligible_resident(session, voter: User | Bearer | Resident, cycle: Cycle | CastingCycle
                      ) -> Resident | ResidentFacts:
    """The registry resident who may vote in the cycle (reached through their resident account, or
    directly for assisted and paper ballots); see `elector`.

    :raises Forbidden: not_eligible otherwise.
    """
    return elector(session, voter, cycle)[0]


def elector(session, voter: User | Bearer | Resident, cycle: Cycle | CastingCycle
            ) -> tuple[Resident | ResidentFacts, str]:
    """The resident who may vote in the cycle, with their household when the vote opened.

    The electorate is fixed when voting opens (`cycles.electorate.in_electorate` is the same rule for
    queries): an active resident of the cycle's community at that moment, by the registry's facts
    then, aged 18 or over on that day. Who moved away since still votes here (they are in this
    vote's electorate); who died since is kept in it but no ballot is recorded in their name.

    :raises Forbidden: not_eligible otherwise.
    """
    if isinstance(voter, (User, Bearer)):
        require_voter(voter)
        voter = voter.resident
    window = cycle.window
    facts = facts_at_opening(session, voter, window)
    if facts is None or facts.community_id != cycle.community_id:
        if voter.community_id == cycle.community_id:
            raise Forbidden(_("You were added to the register after this vote opened; you can vote from the "
                              "next year's vote."), "not_eligible")
        raise Forbidden(_("This vote is for the residents of another community."), "not_eligible")
    if facts.status != "active":
        if voter.is_active:
            raise Forbidden(_("The register did not list you as living in this community when this vote "
                              "opened; you can vote from the next year's vote."), "not_eligible")
        raise Forbidden(_("The register no longer lists you as living in this community."), "not_eligible")
    if voter.status == "deceased":
        raise Forbidden(_("The register lists this resident as deceased: no ballot can be recorded."),
                        "not_eligible")
    if not is_of_age(voter, window):
        raise Forbidden(_("Only residents aged 18 or over on the day the vote opened can vote in it."),
                        "not_eligible")
    return voter, facts.household


def _check_worker(channel: str, worker: User | None, resident: Resident) -> None:
    if channel == Channel.ONLINE:
        if worker is not None:
            raise ValueError("an online ballot has no worker")
        return
    if worker is None:
        raise ValueError(f"a {channel} ballot needs the worker who records it")
    require_own_grid(worker, resident, channel)


def ensure_voting_open(window: VotingWindow, now: datetime) -> None:
    """:raises Conflict: voting_closed outside the voting window (server time)."""
    if not window.is_voting_open(now):
        raise Conflict(_("Voting is not open: ballots are taken only between the published opening "
                         "and closing times."), "voting_closed")


def ballot_costs(session, cycle: Cycle) -> dict[int, int]:
    """The cost in fen of every project on the cycle's ballot (the reviewed cost, else the estimate)."""
    rows = session.execute(select(Project.id, Project.cost_fen, Project.estimated_cost_fen)
                           .where(Project.cycle_id == cycle.id, Project.status == ProjectStatus.ON_BALLOT))
    return {project_id: estimated if cost is None else cost for project_id, cost, estimated in rows}


@dataclass(frozen=True)
class CastingCycle:
    """What casting reads of a cycle before it re-reads under the lock: its community, voting window
    and rules, and the fingerprint of the key of its voter codes (None before its first ballot)."""

    id: int
    community_id: int
    window: VotingWindow
    rules: BallotRules
    rules_frozen: bool
    voter_key: str | None

    @classmethod
    def of(cls, cycle, voter_key: str | None) -> CastingCycle:
        """From a `Cycle`, or a row of the casting path's cycle statement."""
        return cls(cycle.id, cycle.community_id,
                   VotingWindow(cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at),
                   BallotRules.of(cycle), cycle.rules_frozen_at is not None, voter_key)

    @classmethod
    def read(cls, session, cycle: Cycle) -> CastingCycle:
        return cls.of(cycle, chain_key(session, cycle.id))


def chain_key(session, cycle_id: int) -> str | None:
    """The fingerprint of the key of the cycle's voter codes (None before its first ballot)."""
    return session.scalar(select(BallotChain.voter_key).where(BallotChain.cycle_id == cycle_id))


def cycle_voter_key(voter_key: str | None) -> str:
    """This server's key for a cycle's voter codes: the one whose fingerprint the chain head holds
    (the current `SECRET_KEY` or one of its `SECRET_KEY_FALLBACKS`), the current one before the
    first ballot.

    :raises Conflict: voter_key_unknown when this server holds no such key (another host's key, or
        a rotation that dropped it before the vote closed): its voter codes would make a second
        ballot for residents who already voted.
    """
    key = key_with_fingerprint(secret_keys(current_app.config), voter_key)
    if key is None:
        current_app.logger.error("no key of this server has the fingerprint %s of a vote's voter codes: "
                                 "set VOTING_SECRET_KEY (or VOTING_SECRET_KEY_FALLBACKS) as on the other hosts",
                                 voter_key)
        raise Conflict(_("This server cannot record ballots in this vote: it does not hold the key the "
                         "vote started with. Please try again later; the district's IT has been told."),
                       "voter_key_unknown")
    return key


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
    return bearer, CastingCycle.of(row, row.voter_key)


def check_choices(session, cycle: Cycle, voter: User | Resident, pairs, now: datetime) -> dict[int, int]:
    """Check a ballot before it is cast (the confirm step): eligible, open, within the rules.

    :raises Forbidden, Conflict, Invalid: as `cast_ballot`.
    """
    eligible_resident(session, voter, cycle)
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
        cycle = CastingCycle.read(session, cycle)
    connection = session.connection()
    sql = _sql(connection)
    if idempotency and (stored := sql.stored_answer(connection, idempotency, now)):
        return _replay(stored, idempotency)
    resident, household = elector(session, voter, cycle)
    _check_worker(channel, worker, resident)
    ensure_voting_open(cycle.window, now)
    key = cycle_voter_key(cycle.voter_key)
    code, receipt = voter_code(key, cycle.id, resident.id), new_receipt()
    locked = sql.lock_and_read(connection, cycle.id, key_fingerprint(key), code, idempotency, now)
    # (on SQLite the write lock from here)
    if locked.stored:
        return _replay(locked.stored, idempotency)
    state = locked.state
    rules = cycle.rules if cycle.rules_frozen else _freeze_rules(session, cycle.id, now)
    ensure_voting_open(state.window, now)
    chosen = validate_choices(rules, state.costs, choices)
    if rules.per_household:  # only in a vote of one per household: off the path of the others
        sql.refuse_second_of_household(connection, cycle.id, household, resident.id)

    seq, version = locked.seq + 1, state.previous_version + 1
    row = canonical_row(seq=seq, voter_code=code, version=version, choices=chosen.items(), cast_at=now,
                        receipt=receipt)
    chain_hash = next_hash(locked.head_hash, row)
    ballot = {"cycle_id": cycle.id, "voter_code": code, "voter_key": locked.voter_key, "version": version,
              "cast_at": now, "receipt": receipt, "is_current": True, "seq": seq, "chain_hash": chain_hash}
    marks = {"cycle": cycle.id, "resident": resident.id, "channel": channel, "worker": worker.id if worker else None,
             "household": household if rules.per_household else None}
    ballot_id, roll_id = sql.record(connection, ballot, sorted(chosen.items()), marks)
    _expire_copies(session, (BallotChain, cycle.id), *([(RollEntry, roll_id)] if roll_id else []),
                   *([(Ballot, state.superseded_id)] if state.superseded_id else []))
    answer = {"receipt": receipt, "cast_at": _iso(now), "version": version, "seq": seq, "chain_hash": chain_hash}
    if idempotency:
        sql.store_answer(connection, idempotency, cycle, answer, now)
    return CastOutcome(answer, False, ballot_id)


def lock_chain_head(session, cycle_id: int) -> tuple[int, str]:
    """Lock the cycle's chain head until the commit, creating it at the genesis; (last_seq, head_hash).

    Casting, closing the vote early and counting it take this lock: a ballot being recorded at the
    close is committed before it (and counted); one that comes after finds voting closed."""
    connection = session.connection()
    key = current_app.config["SECRET_KEY"]  # a chain created here has no ballot: any key would do
    (seq, head_hash, _key), = _sql(connection).lock_chain.rows(connection, {
        "cycle": cycle_id, "genesis": genesis_hash(cycle_id), "voter_key": key_fingerprint(key)})
    _expire_copies(session, (BallotChain, cycle_id))
    return seq, head_hash


def current_ballot(session, cycle: Cycle, voter: User | Resident) -> Ballot | None:
    """The voter's current ballot in the cycle (for the voter's own eyes only), or None."""
    resident = voter.resident if isinstance(voter, User) else voter
    fingerprint = chain_key(session, cycle.id)
    if resident is None or fingerprint is None:
        return None
    code = voter_code(cycle_voter_key(fingerprint), cycle.id, resident.id)
    return session.scalar(select(Ballot).where(Ballot.cycle_id == cycle.id, Ballot.voter_code == code,
                                               Ballot.is_current))


def how_i_voted(session, cycle: Cycle, user: User) -> tuple[str | None, User | None]:
    """How the resident's latest ballot was recorded, from the roll (for their own eyes): its channel
    and the worker who entered it (None online)."""
    entry = session.scalar(select(RollEntry).where(RollEntry.cycle_id == cycle.id,
                                                   RollEntry.resident_id == user.resident_id))
    if entry is None:
        return None, None
    return entry.channel, session.get(User, entry.worker_id) if entry.worker_id else None


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
    """The public answer about a receipt: never the choices, never the voter. Its `seq` and
    `chain_hash` (the chain's hash after the ballot) commit to the record: a voter who kept them can
    show that a record rewritten since no longer holds their ballot."""
    if ballot is None:
        return {"found": False}
    return {"found": True, "cycle": ballot.cycle_id, "seq": ballot.seq, "recorded_at": _iso(ballot.cast_at),
            "superseded": not ballot.is_current, "chain_hash": ballot.chain_hash}


def issue_voting_code(session, resident: Resident) -> str:
    """Give the resident a new personal voting code (any earlier one stops working).

    Returns the code in plain text, the only time it exists outside the resident's hands: only
    its hash is stored.
    """
    code = new_voting_code()
    digits = normalise_voting_code(code)
    resident.voting_code_hash = generate_password_hash(digits)
    resident.voting_code_tag = voting_code_tag(secret_keys(current_app.config)[0], digits)
    resident.used_code_hash = None  # the code that activated the account no longer answers at all
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


def grid_residents(session, worker: User, cycle: Cycle, search: str = "") -> list[Resident]:
    """The residents of a grid worker's own grid in the vote's electorate, by name (optionally filtered)."""
    stmt = select(Resident).where(Resident.grid_id == worker.grid_id, in_electorate(cycle))
    if search.strip():
        like = f"%{search.strip()}%"
        stmt = stmt.where(Resident.name.like(like) | Resident.address.like(like))
    return list(session.scalars(stmt.order_by(Resident.name, Resident.id).limit(500)))


def resident_of_my_grid(session, worker: User, resident_id: int) -> Resident:
    """:raises NotFound: unknown resident. :raises Forbidden: not_your_grid."""
    resident = session.get(Resident, resident_id)
    if resident is None:
        raise NotFound(_("There is no such resident."), "unknown_resident")
    require_own_grid(worker, resident)
    return resident


@dataclass(frozen=True)
class WorkerCount:
    """How many residents' ballots (their latest) a worker entered by one channel."""

    worker: str
    channel: str
    ballots: int


def worker_counts(session, user: User, cycle: Cycle) -> list[WorkerCount]:
    """Which worker entered how many assisted and paper ballots, from the voter roll (each resident's
    latest ballot), by worker and channel. Counts only: a ballot's row in the record names no
    worker, so nothing here leads to a resident's choices.

    :raises Forbidden: for anyone but staff of the cycle's community, the district admin and auditors.
    """
    require_worker_counts(user, cycle.community_id)
    rows = session.execute(
        select(User.username, RollEntry.channel, func.count()).join(User, User.id == RollEntry.worker_id)
        .where(RollEntry.cycle_id == cycle.id, RollEntry.has_voted)
        .group_by(User.username, RollEntry.channel).order_by(User.username, RollEntry.channel)
    )
    return [WorkerCount(worker, channel, n) for worker, channel, n in rows]


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
    """What a cast reads as it locks the chain head: the head (last seq, head hash, the fingerprint of
    its voter codes' key), the answer already stored for its idempotency key (request hash, body;
    then nothing else was done), and the `_State`."""

    seq: int
    head_hash: str
    voter_key: str
    stored: tuple[str, str] | None
    state: _State | None


_TIME = Cycle.__table__.c.created_at.type  # a naive UTC datetime (text on SQLite)

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
                         c.min_choices, c.max_choices, c.points, c.fund_fen, c.voters, c.rules_frozen_at)
        self.cycle = DriverStatement(select(*cycle_columns).where(c.id == bindparam("id")), dialect)
        # Create the head at the genesis, or "update" it to itself: either way it is locked.
        self.lock_chain = DriverStatement(
            upsert(chain).values(cycle_id=bindparam("cycle"), last_seq=0, head_hash=bindparam("genesis"),
                                 voter_key=bindparam("voter_key"))
            .on_conflict_do_update(index_elements=["cycle_id"], set_={"last_seq": chain.c.last_seq})
            .returning(chain.c.last_seq, chain.c.head_hash, chain.c.voter_key), dialect)
        self.casting_start = DriverStatement(_casting_start(cycle_columns), dialect)
        stored = IdempotentAnswer.__table__
        self.stored_answer_of = DriverStatement(select(stored.c.request_hash, stored.c.body).where(
            stored.c.key_hash == bindparam("key"), stored.c.expires_at > bindparam("now", type_=_TIME)),
            dialect)
        self.insert_answer = DriverStatement(insert(stored).values(
            key_hash=bindparam("key"), cycle_id=bindparam("cycle"), request_hash=bindparam("request_hash"),
            body=bindparam("body"), expires_at=bindparam("expires_at", type_=_TIME)), dialect)
        # An expired answer is never replayed; deleted when the next one is stored (and by the count).
        self.purge_answers = DriverStatement(delete(stored).where(
            stored.c.expires_at <= bindparam("now", type_=_TIME)), dialect)
        # Another member of the household on the roll (read under the chain head's lock: casts of the
        # cycle queue there; the roll's unique index on (cycle, household) refuses it anyway).
        self.household_voter = DriverStatement(
            select(roll.c.resident_id).where(roll.c.cycle_id == bindparam("cycle"),
                                             roll.c.household == bindparam("household"),
                                             roll.c.resident_id != bindparam("resident")).limit(1), dialect)
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
                                    channel=bindparam("channel"), worker_id=bindparam("worker"),
                                    household=bindparam("household"))
        self.mark_voted = DriverStatement(
            voted.on_conflict_do_update(index_elements=["cycle_id", "resident_id"],
                                        set_={"has_voted": True, "channel": voted.excluded.channel,
                                              "worker_id": voted.excluded.worker_id},
                                        where=roll.c.channel.is_distinct_from(voted.excluded.channel)
                                        | roll.c.worker_id.is_distinct_from(voted.excluded.worker_id))
            .returning(roll.c.id), dialect)

    def stored_answer(self, connection, idempotency: Idempotency, now: datetime) -> tuple[str, str] | None:
        """The answer stored for the idempotency key and not expired: (request hash, body), or None."""
        rows = self.stored_answer_of.rows(connection, {"key": idempotency.key_hash, "now": now})
        return tuple(rows[0]) if rows else None

    def store_answer(self, connection, idempotency: Idempotency, cycle: CastingCycle, answer: dict,
                     now: datetime) -> None:
        """Keep the answer for a retry with the same key: a few hours, and never past the close."""
        expires_at = now + timedelta(hours=IDEMPOTENT_ANSWER_HOURS)
        if cycle.window.voting_closes_at is not None:
            expires_at = min(expires_at, cycle.window.voting_closes_at)
        self.purge_answers.rows(connection, {"now": now})
        self.insert_answer.rows(connection, {"key": idempotency.key_hash, "cycle": cycle.id, "body": json.dumps(answer),
                                            "request_hash": idempotency.request_hash, "expires_at": expires_at})

    def refuse_second_of_household(self, connection, cycle_id: int, household: str, resident_id: int) -> None:
        """:raises Conflict: household_voted when another member of the household voted in the cycle."""
        if self.household_voter.rows(connection, {"cycle": cycle_id, "household": household,
                                                  "resident": resident_id}):
            raise Conflict(_("Your household has already voted: in this vote each household has one vote, "
                             "cast by the first of its members to vote."), "household_voted")

    def lock_and_read(self, connection, cycle_id: int, voter_key: str, code: str, idempotency: Idempotency | None,
                      now: datetime) -> _Locked:
        """Lock the cycle's chain head (created with this server's `voter_key` fingerprint at the
        first ballot); unless an answer is stored for the key, supersede the voter's current ballot
        and read the window and the costs (steps 2 to 4).

        :raises Conflict: voter_key_unknown when the head names another key (a host with another key
            started the vote since this cast read the cycle).
        """
        values = {"cycle": cycle_id, "genesis": genesis_hash(cycle_id), "code": code, "voter_key": voter_key,
                  "key": idempotency.key_hash if idempotency else None, "now": now}
        if self.postgres:
            rows = self.lock_and_state.rows(connection, values)
            if rows[0].last_seq is None:  # a cast or a close committed while this one waited: again, still locked
                rows = self.lock_and_state.rows(connection, values)
            first = rows[0]
            if first.last_seq is None:
                raise RuntimeError(f"the chain head of cycle {cycle_id} moved while locked")
            _check_voter_key(first.voter_key, voter_key)
            stored = (first.request_hash, first.body) if first.request_hash is not None else None
            state = None if stored else _State.of((first.superseded_id, first.previous_version),
                                                  (tuple(row)[7:] for row in rows))
            return _Locked(first.last_seq, first.head_hash, first.voter_key, stored, state)
        (seq, head_hash, head_key), = self.lock_chain.rows(connection, values)
        _check_voter_key(head_key, voter_key)
        if idempotency and (stored := self.stored_answer(connection, idempotency, now)):
            return _Locked(seq, head_hash, head_key, stored, None)
        superseded = self.supersede.rows(connection, values)
        state = _State.of(superseded[0] if superseded else (None, None), self.window_and_costs.rows(connection, values))
        return _Locked(seq, head_hash, head_key, None, state)

    def record(self, connection, ballot: dict, chosen: list[tuple[int, int]], marks: dict) -> tuple:
        """Insert the ballot and its choices, move the chain head, mark the roll entry (`marks`: cycle,
        resident, channel, worker); the ballot's id and the roll entry's (None when it did not change)."""
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


_BALLOT_COLUMNS = ("cycle_id", "voter_code", "voter_key", "version", "cast_at", "receipt", "is_current", "seq",
                   "chain_hash")


def _check_voter_key(head_key: str, voter_key: str) -> None:
    if head_key != voter_key:  # the ballot's foreign key would refuse it too
        cycle_voter_key(head_key)  # says so, unless this server holds that key after all
        raise Conflict(_("Another server started this vote a moment ago; please send your ballot again."),
                       "voter_key_changed")


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
    bearer, cycle, chain = bearer_query().subquery("bearer"), Cycle.__table__, BallotChain.__table__
    return (select(bearer, *cycle_columns, chain.c.voter_key)
            .select_from(bearer.outerjoin(cycle, cycle.c.id == bindparam("id"))
                         .outerjoin(chain, chain.c.cycle_id == cycle.c.id)))


# PostgreSQL takes steps 2 to 4 in one statement. Its snapshot is taken before it waits for the lock:
# it is current only if nobody moved the chain head in between (every cast and every close writes a
# new version of the head row, with a new xmin). When somebody did, the head is locked but not
# returned, nothing is superseded, and the statement runs again, now with a current snapshot.
_LOCK_AND_STATE_POSTGRESQL = text("""
WITH head AS (
    INSERT INTO ballot_chain (cycle_id, last_seq, head_hash, voter_key) VALUES (:cycle, 0, :genesis, :voter_key)
    ON CONFLICT (cycle_id) DO UPDATE SET last_seq = ballot_chain.last_seq
    WHERE ballot_chain.xmin = (SELECT xmin FROM ballot_chain WHERE cycle_id = :cycle)
    RETURNING last_seq, head_hash, voter_key),
stored AS (SELECT request_hash, body FROM idempotent_answer WHERE key_hash = :key AND expires_at > :now),
superseded AS (
    UPDATE ballot SET is_current = false
    WHERE cycle_id = :cycle AND voter_code = :code AND is_current
      AND EXISTS (SELECT FROM head WHERE voter_key = :voter_key) AND NOT EXISTS (SELECT FROM stored)
    RETURNING id, version)
SELECT head.last_seq, head.head_hash, head.voter_key, stored.request_hash, stored.body,
       (SELECT id FROM superseded), (SELECT version FROM superseded), state.*
FROM (""" + _WINDOW_AND_COSTS + """) AS state LEFT JOIN head ON true LEFT JOIN stored ON true
""").columns(BallotChain.last_seq, BallotChain.head_hash, BallotChain.voter_key, IdempotentAnswer.request_hash,
             IdempotentAnswer.body,
             column("superseded_id", Integer), column("previous_version", Integer), Cycle.phase,
             Cycle.voting_opens_at, Cycle.voting_closes_at, Project.id, Project.cost_fen)
_RECORD_POSTGRESQL = text("""
WITH new_ballot AS (
    INSERT INTO ballot (cycle_id, voter_code, voter_key, version, cast_at, receipt, is_current, seq, chain_hash)
    VALUES (:cycle_id, :voter_code, :voter_key, :version, :cast_at, :receipt, :is_current, :seq, :chain_hash)
    RETURNING id),
choices AS (
    INSERT INTO ballot_choice (ballot_id, project_id, points)
    SELECT new_ballot.id, chosen.project_id, chosen.points
    FROM new_ballot, unnest(CAST(:projects AS integer[]), CAST(:points AS integer[])) AS chosen (project_id, points)),
head AS (UPDATE ballot_chain SET last_seq = :seq, head_hash = :chain_hash WHERE cycle_id = :cycle_id),
roll AS (
    INSERT INTO roll_entry (cycle_id, resident_id, has_voted, channel, worker_id, household)
    VALUES (:cycle, :resident, true, :channel, :worker, :household)
    ON CONFLICT (cycle_id, resident_id) DO UPDATE SET has_voted = true, channel = excluded.channel,
                                                      worker_id = excluded.worker_id
    WHERE roll_entry.channel IS DISTINCT FROM excluded.channel
       OR roll_entry.worker_id IS DISTINCT FROM excluded.worker_id
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
