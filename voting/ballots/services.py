"""Casting ballots (online, assisted, paper), revising them, receipts, and personal voting codes.

How one cast runs, in one transaction (the view commits):

1. refuse what can be refused without writing: not eligible (403 not_eligible), the wrong
   worker (403 not_your_grid), a closed vote (409 voting_closed), choices that break the rules
   (422, see `rules.py`);
2. lock the resident's roll entry: insert it if missing (`INSERT … ON CONFLICT DO NOTHING`), then
   `SELECT … FOR UPDATE` (PostgreSQL; SQLite is serialised by `BEGIN IMMEDIATE`). Every cast of
   one resident queues here, so versions follow each other without gap or repeat;
3. replay the stored answer when the `Idempotency-Key` was seen before;
4. freeze the cycle's rules at the first ballot, re-read them and check again;
5. mark the current ballot superseded, and lock the cycle's chain head (always after the roll
   entry): the new version gets the next `seq` and extends the hash chain (`chain.py`);
6. record the ballot, the roll entry's channel and, with a key, the answer to replay.

The partial unique index on `ballot (cycle_id, voter_code) WHERE is_current` is the database's
own guarantee of one current ballot; `@transactional` retries deadlocks and serialisation failures.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.security import check_password_hash, generate_password_hash

from ..accounts.models import User
from ..cycles.models import Cycle
from ..cycles.services import ballot_projects
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
    ballot: Ballot | None


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
    """The cost in fen of every project on the cycle's ballot."""
    return {p.id: p.ballot_cost_fen for p in ballot_projects(session, cycle) if p.status == "on_ballot"}


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
    costs = ballot_costs(session, cycle)
    validate_choices(BallotRules.of(cycle), costs, choices)

    roll = _lock_roll_entry(session, cycle.id, resident.id)
    if idempotency and (stored := _stored_answer(session, idempotency)):
        return stored
    _freeze_rules(session, cycle, now)
    ensure_voting_open(cycle, now)
    chosen = validate_choices(BallotRules.of(cycle), costs, choices)

    code = voter_code(current_app.config["SECRET_KEY"], cycle.id, resident.id)
    previous = session.scalar(
        select(func.max(Ballot.version)).where(Ballot.cycle_id == cycle.id, Ballot.voter_code == code)
    ) or 0
    if previous:
        session.execute(
            update(Ballot).where(Ballot.cycle_id == cycle.id, Ballot.voter_code == code, Ballot.is_current)
            .values(is_current=False)
        )
    chain = _lock_chain(session, cycle.id)
    seq, version, receipt = chain.last_seq + 1, previous + 1, _unique_receipt(session)
    row = canonical_row(seq=seq, voter_code=code, version=version, channel=channel,
                        worker=worker.username if worker else None, choices=chosen.items(), cast_at=now,
                        receipt=receipt)
    ballot = Ballot(cycle_id=cycle.id, voter_code=code, version=version, channel=channel,
                    worker_id=worker.id if worker else None, cast_at=now, receipt=receipt, is_current=True,
                    seq=seq, chain_hash=next_hash(chain.head_hash, row),
                    choices=[BallotChoice(project_id=p, points=n) for p, n in sorted(chosen.items())])
    session.add(ballot)
    chain.last_seq, chain.head_hash = seq, ballot.chain_hash
    roll.has_voted, roll.channel = True, channel
    answer = {"receipt": receipt, "cast_at": _iso(now), "version": version}
    if idempotency:
        session.add(IdempotentAnswer(user_id=idempotency.user_id, key=idempotency.key,
                                     request_hash=idempotency.request_hash, status=200, body=json.dumps(answer)))
    session.flush()
    return CastOutcome(answer, False, ballot)


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


def _insert_if_missing(session, model, values: dict, index_elements: list[str]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(model).values(**values).on_conflict_do_nothing(index_elements=index_elements))


def _lock_roll_entry(session, cycle_id: int, resident_id: int) -> RollEntry:
    _insert_if_missing(session, RollEntry, {"cycle_id": cycle_id, "resident_id": resident_id, "has_voted": False},
                       ["cycle_id", "resident_id"])
    return session.scalars(
        select(RollEntry).where(RollEntry.cycle_id == cycle_id, RollEntry.resident_id == resident_id)
        .with_for_update().execution_options(populate_existing=True)
    ).one()


def _lock_chain(session, cycle_id: int) -> BallotChain:
    genesis = {"cycle_id": cycle_id, "last_seq": 0, "head_hash": genesis_hash(cycle_id)}
    _insert_if_missing(session, BallotChain, genesis, ["cycle_id"])
    return session.scalars(
        select(BallotChain).where(BallotChain.cycle_id == cycle_id)
        .with_for_update().execution_options(populate_existing=True)
    ).one()


def _freeze_rules(session, cycle: Cycle, now: datetime) -> None:
    """Fix the cycle's rules at its first ballot, then re-read them (what a concurrent rule change
    committed before the freeze is what this ballot is checked against)."""
    if cycle.rules_frozen_at is None:
        session.execute(
            update(Cycle).where(Cycle.id == cycle.id, Cycle.rules_frozen_at.is_(None)).values(rules_frozen_at=now)
            .execution_options(synchronize_session=False)
        )
    session.refresh(cycle)


def _unique_receipt(session) -> str:
    for _attempt in range(10):
        receipt = new_receipt()
        if session.scalar(select(Ballot.id).where(Ballot.receipt == receipt)) is None:
            return receipt
    raise RuntimeError("could not draw an unused receipt code")


def _iso(value: datetime) -> str:
    return value.isoformat() + "Z"
