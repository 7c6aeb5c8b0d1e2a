"""The casting path's SQL: what a cast reads and writes, on the driver's own cursor.

`ballots.services.cast_ballot` holds the rules of a cast (who may vote, the window, the choices,
the chain's next link); this module holds the statements it runs and the two types it runs them
for: the `Voter` (what casting needs to know of who votes) and the `CastingCycle` (what it reads of
the cycle before the lock).

The path reads the cycle and writes with statements run on the driver's own cursor
(`driver.DriverStatement`: no unit-of-work flush, none of SQLAlchemy's work per statement); on
PostgreSQL the lock and the reads under it are one statement and the record another
(data-modifying WITH; the first checks that its snapshot is no older than its lock, see
`_LOCK_AND_STATE_POSTGRESQL`); on SQLite, which has no data-modifying WITH, they are a statement a
step. Copies of the rows it changed that the session already holds are expired (`expire_copies`).
The chain head's lock (`lock_chain_head`) is also taken by closing the vote and counting it.

This module is plumbing under the services: it imports no feature's services but the accounts'
token columns (`accounts.services.bearer_query`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import Integer, bindparam, column, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import object_session
from sqlalchemy.orm.util import identity_key

from ..accounts.policy import is_voter
from ..accounts.services import Bearer, ResidentFacts, bearer_of, bearer_query, token_hash
from ..config import secret_keys
from ..cycles.models import Cycle, VotingWindow
from ..driver import DriverStatement, per_dialect
from ..errors import Conflict, NotFound, Unauthorized
from ..proposals.models import Project
from .chain import genesis_hash
from .codes import key_fingerprint, key_with_fingerprint
from .models import Ballot, BallotChain, BallotChoice, IdempotentAnswer, RollEntry
from .rules import BallotRules

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
class Voter:
    """Who casts a ballot, as casting needs to know them: the registry facts of the resident who
    votes, or None for an account that is not an enabled resident's (refused as not eligible, once a
    stored answer to its idempotency key had its chance to be replayed)."""

    resident: ResidentFacts | None

    @classmethod
    def of_account(cls, account) -> Voter:
        """The voter an account stands for (a `User`, or the API's `Bearer` read with the token)."""
        if not is_voter(account):
            return cls(None)
        return cls.of_resident(account.resident)

    @classmethod
    def of_resident(cls, resident) -> Voter:
        """A registry resident as a voter (a `Resident`, for assisted and paper ballots, or the facts
        read with a token)."""
        if isinstance(resident, ResidentFacts):  # the API's cast: read with the token, nothing to copy
            return cls(resident)
        return cls(ResidentFacts(resident.id, resident.community_id, resident.grid_id, resident.status,
                                 resident.created_at, resident.facts_since, resident.adult_on, resident.household))


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
        """From a `Cycle`, with the fingerprint in its chain head (one statement)."""
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
    sql = statements(connection)
    rows = sql.casting_start.rows(connection, {"token_hash": token_hash(token), "id": cycle_id}) if token else []
    if not rows or (bearer := bearer_of(rows[0])) is None:
        raise Unauthorized(_("Please sign in first."))
    row = rows[0]
    if row.id is None:
        raise NotFound(_("There is no cycle %(id)s.", id=cycle_id), "unknown_cycle")
    return bearer, CastingCycle.of(row, row.voter_key)


def lock_chain_head(session, cycle_id: int) -> tuple[int, str]:
    """Lock the cycle's chain head until the commit, creating it at the genesis; (last_seq, head_hash).

    Casting, closing the vote early and counting it take this lock: a ballot being recorded at the
    close is committed before it (and counted); one that comes after finds voting closed."""
    connection = session.connection()
    key = current_app.config["SECRET_KEY"]  # a chain created here has no ballot: any key would do
    (seq, head_hash, _key), = statements(connection).lock_chain.rows(connection, {
        "cycle": cycle_id, "genesis": genesis_hash(cycle_id), "voter_key": key_fingerprint(key)})
    expire_copies(session, (BallotChain, cycle_id))
    return seq, head_hash


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


class Statements:
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
def statements(dialect) -> Statements:
    """The casting path's `Statements` for a SQLAlchemy connection's dialect (built once)."""
    return Statements(dialect)


def freeze_rules(session, cycle_id: int, now: datetime) -> BallotRules:
    """Fix the cycle's rules at its first ballot, then read them again (what a concurrent rule change
    committed before the freeze is what this ballot is checked against)."""
    cycle = Cycle.__table__
    connection = session.connection()
    connection.execute(update(cycle).where(cycle.c.id == cycle_id, cycle.c.rules_frozen_at.is_(None))
                       .values(rules_frozen_at=now))
    expire_copies(session, (Cycle, cycle_id))
    return BallotRules.of(statements(connection).cycle.rows(connection, {"id": cycle_id})[0])


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


def expire_copies(session, *keys) -> None:
    """Expire the session's copies of rows changed behind its back (so they are read afresh)."""
    if not len(session.identity_map):  # the API's casts hold none: no keys to build
        return
    for model, primary_key in keys:
        held = session.identity_map.get(identity_key(model, primary_key))
        if held is not None and object_session(held) is session:
            session.expire(held)
