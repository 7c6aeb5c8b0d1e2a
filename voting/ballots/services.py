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
   before it (the API reads its bearer token with the cycle, `casting.cycle_for_casting`);
3. look again for a stored answer to the key;
4. read again, now that nobody else can change them for this cycle, the voting window (closing
   the vote takes the chain head too, see `results.services.ensure_result`) and the ballot's
   costs, and mark the voter's current ballot superseded (`UPDATE … RETURNING` its version);
   freeze the cycle's rules at the first ballot; check the window and the choices (422, see
   `rules.py`);
5. record the ballot (the next link of the hash chain, `chain.py`) and its choices, move the chain
   head, and mark the roll entry (that the resident voted, how, and which worker entered it: the
   ballot itself has neither); with a key, store the answer (no choices, no account, expiring).

The statements of steps 2 to 5, and of the reads a cast makes before them, are in `casting.py`
(on the driver's own cursor: on PostgreSQL steps 2 to 4 are one statement and step 5 another).
Casting knows who votes as a `casting.Voter` and the cycle as a `casting.CastingCycle`. The
partial unique index on `ballot (cycle_id, voter_code) WHERE is_current` is the database's own
guarantee of one current ballot per voter code, and the ballot's foreign key to its chain head's
key (`models.Ballot`) that no other key makes voter codes for the cycle; `@transactional` retries
deadlocks, serialisation failures and the (60-bit, practically never) clash of a new receipt code
with an old one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from ..accounts.models import User
from ..accounts.policy import not_a_voter, require_own_grid, require_resident, require_worker_counts
from ..accounts.services import ResidentFacts
from ..cycles.electorate import facts_at_opening, in_electorate, is_of_age
from ..cycles.models import Cycle, VotingWindow
from ..enums import Channel, ProjectStatus
from ..errors import Conflict, Forbidden, Invalid, NotFound
from ..proposals.models import Project
from ..residents.models import Resident
from .casting import CastingCycle, Idempotency, Voter, cycle_voter_key, expire_copies, freeze_rules, statements
from .chain import canonical_row, next_hash
from .codes import key_fingerprint, new_receipt, normalise_receipt, normalise_voting_code, voter_code
from .models import Ballot, BallotChain, RollEntry
from .rules import validate_choices


@dataclass(frozen=True)
class CastOutcome:
    """The answer to a cast: {receipt, cast_at, version}; `replayed` when it is a stored answer."""

    answer: dict
    replayed: bool
    ballot_id: int | None


def eligible_resident(session, voter: Voter, cycle: CastingCycle) -> ResidentFacts:
    """The registry resident who may vote in the cycle (reached through their resident account, or
    directly for assisted and paper ballots); see `elector`.

    :raises Forbidden: not_eligible otherwise.
    """
    return elector(session, voter, cycle)[0]


def elector(session, voter: Voter, cycle: CastingCycle) -> tuple[ResidentFacts, str]:
    """The resident who may vote in the cycle, with their household when the vote opened.

    The electorate is fixed when voting opens (`cycles.electorate.in_electorate` is the same rule for
    queries): an active resident of the cycle's community at that moment, by the registry's facts
    then, aged 18 or over on that day. Who moved away since still votes here (they are in this
    vote's electorate); who died since is kept in it but no ballot is recorded in their name.

    :raises Forbidden: not_eligible otherwise.
    """
    resident = voter.resident
    if resident is None:
        raise not_a_voter()
    window = cycle.window
    facts = facts_at_opening(session, resident, window)
    if facts is None or facts.community_id != cycle.community_id:
        if resident.community_id == cycle.community_id:
            raise Forbidden(_("You were added to the register after this vote opened; you can vote from the "
                              "next year's vote."), "not_eligible")
        raise Forbidden(_("This vote is for the residents of another community."), "not_eligible")
    if facts.status != "active":
        if resident.is_active:
            raise Forbidden(_("The register did not list you as living in this community when this vote "
                              "opened; you can vote from the next year's vote."), "not_eligible")
        raise Forbidden(_("The register no longer lists you as living in this community."), "not_eligible")
    if resident.status == "deceased":
        raise Forbidden(_("The register lists this resident as deceased: no ballot can be recorded."),
                        "not_eligible")
    if not is_of_age(resident, window):
        raise Forbidden(_("Only residents aged 18 or over on the day the vote opened can vote in it."),
                        "not_eligible")
    return resident, facts.household


def _check_worker(channel: str, worker: User | None, resident: ResidentFacts) -> None:
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


def ballot_costs(session, cycle_id: int) -> dict[int, int]:
    """The cost in fen of every project on the cycle's ballot (the reviewed cost, else the estimate)."""
    rows = session.execute(select(Project.id, Project.cost_fen, Project.estimated_cost_fen)
                           .where(Project.cycle_id == cycle_id, Project.status == ProjectStatus.ON_BALLOT))
    return {project_id: estimated if cost is None else cost for project_id, cost, estimated in rows}


def check_choices(session, cycle: CastingCycle, voter: Voter, pairs, now: datetime) -> dict[int, int]:
    """Check a ballot before it is cast (the confirm step): eligible, open, within the rules.

    :raises Forbidden, Conflict, Invalid: as `cast_ballot`.
    """
    eligible_resident(session, voter, cycle)
    ensure_voting_open(cycle.window, now)
    return validate_choices(cycle.rules, ballot_costs(session, cycle.id), pairs)


def cast_ballot(session, cycle: CastingCycle, voter: Voter, choices, channel: str, worker: User | None,
                now: datetime, *, idempotency: Idempotency | None = None) -> CastOutcome:
    """Record a ballot (or a new version of the voter's ballot) and return the receipt.

    `choices` are (project id, points) pairs as sent; points are 1 except in cumulative voting.

    :raises Forbidden: not_eligible, not_your_grid.
    :raises Conflict: voting_closed.
    :raises Invalid: unknown_project, duplicate_project, bad_points, too_few_choices,
        too_many_choices, over_budget; idempotency_key_reused.
    """
    choices = list(choices)
    connection = session.connection()
    sql = statements(connection)
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
    rules = cycle.rules if cycle.rules_frozen else freeze_rules(session, cycle.id, now)
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
    expire_copies(session, (BallotChain, cycle.id), *([(RollEntry, roll_id)] if roll_id else []),
                   *([(Ballot, state.superseded_id)] if state.superseded_id else []))
    answer = {"receipt": receipt, "cast_at": _iso(now), "version": version, "seq": seq, "chain_hash": chain_hash}
    if idempotency:
        sql.store_answer(connection, idempotency, cycle, answer, now)
    return CastOutcome(answer, False, ballot_id)


def current_ballot(session, cycle: CastingCycle, voter: Voter) -> Ballot | None:
    """The voter's current ballot in the cycle (for the voter's own eyes only), or None."""
    if voter.resident is None or cycle.voter_key is None:
        return None
    code = voter_code(cycle_voter_key(cycle.voter_key), cycle.id, voter.resident.id)
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


def own_ballot(session, cycle: Cycle, user: User) -> tuple[Ballot, str]:
    """The resident's own current ballot in the cycle and how it was recorded (`how_i_voted`).

    :raises Forbidden: `not_eligible` for any account but a resident's.
    :raises NotFound: `no_ballot` when they have not voted in it.
    """
    require_resident(user)
    ballot = current_ballot(session, CastingCycle.read(session, cycle), Voter.of_account(user))
    if ballot is None:
        raise NotFound(_("You have no ballot in this vote yet."), "no_ballot")
    return ballot, how_i_voted(session, cycle, user)[0]


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


class WrongCredential(Forbidden):
    """The credential a resident typed to confirm an assisted ballot is not theirs (403: the
    worker's attempts are limited)."""

    code = "bad_credential"


def confirm_resident(session, resident: Resident, credential: str) -> None:
    """Check the credential a resident gives to confirm an assisted ballot: the password of their
    own account, or their personal voting code.

    :raises WrongCredential: (a Forbidden, bad_credential) when it is neither.
    """
    credential = credential or ""
    account = session.scalar(select(User).where(User.resident_id == resident.id))
    if credential and account is not None and account.is_enabled \
            and check_password_hash(account.password_hash, credential):
        return
    digits = normalise_voting_code(credential)
    if digits and resident.voting_code_hash and check_password_hash(resident.voting_code_hash, digits):
        return
    raise WrongCredential(_("That is not the resident's password or personal voting code. Ask the resident "
                            "to type it again."))


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



def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"
