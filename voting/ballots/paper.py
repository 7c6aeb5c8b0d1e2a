"""Paper ballots: a grid's batch, typed in twice by two different people, reconciled.

1. A grid worker (their own grid) or community staff (any grid of the community) opens a batch;
   the opener types round 1.
2. Each entry is one paper ballot against the roll: an active resident of the batch's grid and
   the choices, checked against the cycle's rules as they are typed.
3. A different person types the same papers as round 2, without seeing round 1. The same person
   can never type both rounds (refused here, and by a check constraint).
4. When both rounds are finished the batch is reconciled: a resident whose two entries agree gets
   a ballot (channel `paper` on the roll, recorded by the round-1 person), and the entries' choices
   and resident are erased (what is left says only that a paper of the batch was counted). The
   agreeing pairs are cast in a random order, each at its own random time between the batch's
   opening and the reconciliation (sorted, so `cast_at` grows with `seq`): neither the order nor
   the time of a paper ballot in the record says whose it is. Everything else is listed as a
   dispute: the rounds differ, or the paper is in one round only, or the ballot was refused
   (for example the resident moved). The round owners re-type or remove the disputed entries
   and reconcile again.
5. Paper and online meet openly. A resident who already voted in the cycle, by any channel (the
   roll says so: that, never how), is flagged on both typists' forms, and at reconciliation their
   paper is not cast but disputed as `already_voted`. Only the community's staff decide it, with a
   reason, in the action log: the paper replaces the earlier ballot (a new version, channel paper),
   or it is discarded and the earlier ballot stands. The typists can neither re-type nor remove it.

Disputes show the resident and the kind of problem, never the choices.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import User
from ..accounts.policy import is_staff_of, require_paper_decider, require_paper_scope
from ..audit.services import log_action
from ..cycles.models import Cycle
from ..enums import Channel, Role
from ..validation import InvalidField
from ..errors import BadRequest, Conflict, DomainError, Forbidden, Invalid, NotFound
from ..geography.models import Grid
from ..residents.models import Resident
from .chain import format_choices
from .models import PaperBatch, PaperEntry, RollEntry
from .rules import BallotRules, validate_choices
from .casting import CastingCycle, Voter, lock_chain_head
from .services import ballot_costs, cast_ballot, ensure_voting_open

PROBLEMS = ("differs", "only_round_1", "only_round_2", "already_voted")
DECISIONS = ("replace", "discard")
MAX_REASON = 500

# The random source of the order and the times of a batch's ballots (tests replace it).
_random = secrets.SystemRandom()


def paper_grids(session, user: User, cycle: Cycle) -> list[Grid]:
    """The grids of the cycle's community whose paper ballots the user may enter."""
    stmt = select(Grid).where(Grid.community_id == cycle.community_id).order_by(Grid.code)
    if user.role == Role.GRID_WORKER:
        stmt = stmt.where(Grid.id == user.grid_id)
    elif not is_staff_of(user, cycle.community_id):
        return []
    return list(session.scalars(stmt))


def list_batches(session, user: User, cycle: Cycle) -> list[PaperBatch]:
    grids = [g.id for g in paper_grids(session, user, cycle)]
    return list(session.scalars(select(PaperBatch).where(PaperBatch.cycle_id == cycle.id,
                                                         PaperBatch.grid_id.in_(grids))
                                .order_by(PaperBatch.id.desc())))


def get_batch(session, user: User, batch_id: int) -> PaperBatch:
    """:raises NotFound: no such batch. :raises Forbidden: not_your_grid."""
    batch = session.get(PaperBatch, batch_id)
    if batch is None:
        raise NotFound(_("There is no such batch of paper ballots."), "unknown_batch")
    require_paper_scope(user, batch.grid)
    return batch


def create_batch(session, user: User, cycle: Cycle, grid_id: int, label: str, now: datetime) -> PaperBatch:
    """Open a batch of a grid's paper ballots; its opener types round 1.

    :raises NotFound: a grid of another community. :raises Forbidden: not_your_grid.
    :raises Conflict: voting_closed.
    """
    grid = session.get(Grid, grid_id)
    if grid is None or grid.community_id != cycle.community_id:
        raise NotFound(_("There is no such grid in this community."), "unknown_grid")
    require_paper_scope(user, grid)
    ensure_voting_open(cycle.window, now)
    batch = PaperBatch(cycle_id=cycle.id, grid_id=grid.id, label=label.strip()[:80], created_by_id=user.id,
                       round1_by_id=user.id, created_at=now)
    session.add(batch)
    session.flush()
    return batch


def my_round(batch: PaperBatch, user: User) -> int:
    """The round this user types: 1 for the batch's opener, 2 for the first other person.

    :raises Forbidden: rounds_taken when two other people type the rounds.
    """
    if batch.round1_by_id == user.id:
        return 1
    if batch.round2_by_id in (None, user.id):
        return 2
    raise Forbidden(_("Two other people are entering this batch already."), "rounds_taken")


def round_done(batch: PaperBatch, number: int) -> bool:
    return (batch.round1_done_at if number == 1 else batch.round2_done_at) is not None


def disputed_residents(batch: PaperBatch) -> set[int]:
    return {e.resident_id for e in batch.entries if e.status == "disputed"}


def voted_on_roll(session, cycle_id: int, resident_ids) -> dict[int, str]:
    """The channel of each of these residents who already voted in the cycle, from the roll (that
    they voted and how, never what)."""
    ids = list(resident_ids)
    if not ids:
        return {}
    return dict(session.execute(_voters(cycle_id).where(RollEntry.resident_id.in_(ids))).all())


def voted_in_grid(session, batch: PaperBatch) -> dict[int, str]:
    """The residents of the batch's grid who already voted in the cycle, with their channel."""
    return dict(session.execute(_voters(batch.cycle_id).join(Resident, Resident.id == RollEntry.resident_id)
                                .where(Resident.grid_id == batch.grid_id)).all())


def _voters(cycle_id: int):
    """(resident id, channel) of the roll's voters in the cycle."""
    return select(RollEntry.resident_id, RollEntry.channel).where(RollEntry.cycle_id == cycle_id, RollEntry.has_voted)


def grid_roll(session, batch: PaperBatch) -> list[Resident]:
    """The active residents of the batch's grid, by name: whom a paper of the batch may be typed for."""
    return list(session.scalars(select(Resident).where(Resident.grid_id == batch.grid_id, Resident.status == "active")
                                .order_by(Resident.name, Resident.id)))


def disputes_of_round(session, batch: PaperBatch, number: int | None) -> tuple[list[PaperEntry], list[Resident]]:
    """The disputed entries of round `number` (of both rounds when None), and the residents disputed
    because their paper is missing from that round. Papers of residents who already voted are the
    staff's (`already_voted_disputes`), not the typists'."""
    disputed = [e for e in batch.entries if e.status == "disputed" and e.problem != "already_voted"]
    mine = [e for e in disputed if number is None or e.round == number]
    others = {e.resident_id for e in disputed} - {e.resident_id for e in mine}
    missing = list(session.scalars(select(Resident).where(Resident.id.in_(others)))) if others else []
    return mine, missing


def add_entry(session, user: User, batch: PaperBatch, resident_id, pairs, now: datetime) -> PaperEntry:
    """Type one paper ballot into the user's round (or re-type it, for a disputed one).

    A resident who already voted (a counted paper of this batch included: its entries no longer
    name the resident) is typed like any other; the form flags them, and reconciliation disputes
    the paper as `already_voted` for the staff to decide.

    :raises Forbidden: not_your_grid, rounds_taken, same_person.
    :raises Conflict: voting_closed, round_finished, staff_decide (disputed as already voted).
    :raises Invalid: not_on_roll, and the rule codes of `rules.py`.
    """
    require_paper_scope(user, batch.grid)
    ensure_voting_open(batch.cycle.window, now)
    number = my_round(batch, user)
    resident = session.get(Resident, resident_id) if isinstance(resident_id, int) else None
    if resident is None or resident.grid_id != batch.grid_id or not resident.is_active:
        raise Invalid(_("Choose a resident on this grid's roll."), "not_on_roll")
    if round_done(batch, number) and resident.id not in disputed_residents(batch):
        _refuse_finished_round(batch, number)
    chosen = validate_choices(BallotRules.of(batch.cycle), ballot_costs(session, batch.cycle_id), pairs)
    entry = session.scalar(select(PaperEntry).where(PaperEntry.batch_id == batch.id, PaperEntry.round == number,
                                                    PaperEntry.resident_id == resident.id))
    if entry is not None and entry.problem == "already_voted":
        _refuse_staff_decides()
    if entry is None:
        entry = PaperEntry(batch_id=batch.id, round=number, resident_id=resident.id)
        batch.entries.append(entry)
    if number == 2 and batch.round2_by_id is None:
        batch.round2_by_id = user.id
    entry.choices, entry.status, entry.problem = format_choices(chosen.items()), "pending", None
    entry.entered_by_id, entry.entered_at = user.id, now
    session.flush()
    return entry


def remove_entry(session, user: User, batch: PaperBatch, entry_id: int) -> None:
    """Remove an entry of the user's own round (after the round is finished: a disputed one only;
    never one disputed as already voted, which the staff decide).

    :raises NotFound, Conflict: round_finished, already_counted, staff_decide.
    """
    require_paper_scope(user, batch.grid)
    number = my_round(batch, user)
    entry = next((e for e in batch.entries if e.id == entry_id and e.round == number), None)
    if entry is None:
        raise NotFound(_("There is no such entry in your round."), "unknown_entry")
    if entry.status == "accepted":
        raise Conflict(_("This resident's paper ballot in this batch is already counted."), "already_counted")
    if entry.problem == "already_voted":
        _refuse_staff_decides()
    if round_done(batch, number) and entry.status != "disputed":
        _refuse_finished_round(batch, number)
    batch.entries.remove(entry)
    session.flush()


def my_entries(batch: PaperBatch, user: User) -> list[PaperEntry]:
    """The entries of the user's own round (a round never shows the other round's entries)."""
    try:
        number = my_round(batch, user)
    except Forbidden:
        return []
    return [e for e in batch.entries if e.round == number]


@dataclass(frozen=True)
class Reconciliation:
    accepted: int
    disputed: int


def finish_round(session, user: User, batch: PaperBatch, now: datetime) -> Reconciliation | None:
    """Finish the user's round; when both are finished, reconcile the batch.

    :raises Forbidden: same_person (the round-1 typist finishing again), rounds_taken.
    :raises Conflict: round_finished.
    """
    require_paper_scope(user, batch.grid)
    number = my_round(batch, user)
    if round_done(batch, number):
        _refuse_finished_round(batch, number)
    if number == 1:
        batch.round1_done_at = now
    else:
        batch.round2_by_id = user.id
        batch.round2_done_at = now
    session.flush()
    if batch.round1_done_at and batch.round2_done_at:
        return reconcile(session, user, batch, now)
    return None


def reconcile(session, user: User, batch: PaperBatch, now: datetime) -> Reconciliation:
    """Turn every pair of agreeing entries into a ballot; list the rest as disputes.

    A resident who already voted in the cycle (the roll, read under the chain head's lock, so no
    cast slips in between) is disputed as `already_voted`, for the staff to decide. The others are
    cast in a random order, each at its own random time within the batch (`_paper_times`); each
    in its own savepoint, so one refused ballot leaves the others standing.

    :raises Conflict: rounds_not_finished.
    """
    require_paper_scope(user, batch.grid)
    if not (batch.round1_done_at and batch.round2_done_at):
        raise Conflict(_("Both rounds must be finished before the batch is reconciled."), "rounds_not_finished")
    pairs: dict[int, dict[int, PaperEntry]] = {}
    for entry in batch.entries:
        if entry.status != "accepted":
            pairs.setdefault(entry.resident_id, {})[entry.round] = entry
    problems: dict[int, str | None] = {}
    agreeing: dict[int, str] = {}
    for resident_id, rounds in pairs.items():
        first, second = rounds.get(1), rounds.get(2)
        if first and second and first.choices == second.choices:
            agreeing[resident_id] = first.choices
        else:
            problems[resident_id] = "differs" if first and second else ("only_round_1" if first else "only_round_2")
    if agreeing:
        _lock_chain_and_read_window(session, batch)
        closed = not batch.cycle.window.is_voting_open(now)
        voted = voted_on_roll(session, batch.cycle_id, agreeing)
        to_cast = []
        for resident_id in agreeing:
            if closed or resident_id in voted:
                problems[resident_id] = "voting_closed" if closed else "already_voted"
            else:
                to_cast.append(resident_id)
        _random.shuffle(to_cast)  # never the registry's order
        casting = CastingCycle.read(session, batch.cycle)  # once for the batch, not once a ballot
        for resident_id, cast_at in zip(to_cast, _paper_times(batch.created_at, now, len(to_cast))):
            problems[resident_id] = _cast_paper(session, batch, casting, session.get(Resident, resident_id),
                                                agreeing[resident_id], cast_at)
    accepted = disputed = 0
    for resident_id, problem in problems.items():
        for entry in pairs[resident_id].values():
            _settle(entry, problem)
        if problem is None:
            accepted += 1
        else:
            disputed += 1
    batch.accepted_count += accepted
    batch.reconciled_at = now
    session.flush()
    return Reconciliation(accepted, disputed)


def already_voted_disputes(batch: PaperBatch) -> list[PaperEntry]:
    """The papers disputed as already voted, one entry (round 1's) per resident, for the staff."""
    return [e for e in batch.entries if e.problem == "already_voted" and e.round == 1]


def decide_already_voted(session, user: User, batch: PaperBatch, entry_id: int, decision: str, reason,
                         now: datetime) -> str:
    """The community's staff decide a paper disputed as already voted, with a reason (both in the
    action log): `replace` casts it as a paper ballot, a new version of the resident's ballot (the
    latest counts); `discard` removes its entries and the earlier ballot stands. Returns the decision.

    :raises Forbidden: staff_decide for anyone but the staff of the batch's community.
    :raises NotFound: unknown_entry. :raises Conflict: not_already_voted, voting_closed (replace).
    :raises BadRequest: bad_decision. :raises Invalid: missing_reason, reason_too_long, and what
        casting refuses (for a replacement).
    """
    require_paper_decider(user, batch.grid.community_id)
    if decision not in DECISIONS:
        raise BadRequest(_("Choose whether the paper ballot replaces the earlier ballot or is discarded."),
                         "bad_decision")
    reason = (reason or "").strip() if isinstance(reason, str) or reason is None else ""
    if not reason:
        raise InvalidField("reason", _("Please give the reason for the decision."), "missing_reason")
    if len(reason) > MAX_REASON:
        raise InvalidField("reason", _("The reason is longer than %(n)d characters.", n=MAX_REASON), "reason_too_long")
    entry = next((e for e in batch.entries if e.id == entry_id), None)
    if entry is None:
        raise NotFound(_("There is no such entry in this batch."), "unknown_entry")
    rounds = [e for e in batch.entries if e.resident_id is not None and e.resident_id == entry.resident_id]
    if entry.problem != "already_voted" or len(rounds) != 2 or any(e.problem != "already_voted" for e in rounds):
        raise Conflict(_("Only a paper ballot disputed because the resident already voted is decided by the "
                         "staff; reconcile the batch first."), "not_already_voted")
    resident = entry.resident
    earlier = voted_on_roll(session, batch.cycle_id, [resident.id]).get(resident.id)
    if decision == "replace":
        _lock_chain_and_read_window(session, batch)
        ensure_voting_open(batch.cycle.window, now)
        (cast_at,) = _paper_times(batch.created_at, now, 1)
        cast_ballot(session, CastingCycle.read(session, batch.cycle), Voter.of_resident(resident),
                    _pairs(entry.choices), Channel.PAPER, batch.round1_by, cast_at)
        for e in rounds:
            _settle(e, None)
        batch.accepted_count += 1
        action = "paper.replace_earlier_ballot"
    else:
        for e in rounds:
            batch.entries.remove(e)
        action = "paper.discard_paper_ballot"
    session.flush()
    log_action(session, user, action, batch.cycle.community, cycle=batch.cycle_id, batch=batch.id,
               resident=resident.id, earlier_channel=earlier, reason=reason)
    return decision


def _settle(entry: PaperEntry, problem: str | None) -> None:
    """Mark an entry counted (erasing its choices and its resident) or disputed with the problem."""
    if problem is None:
        entry.status, entry.choices, entry.problem, entry.resident_id = "accepted", None, None, None
    else:
        entry.status, entry.problem = "disputed", problem


def _lock_chain_and_read_window(session, batch: PaperBatch) -> None:
    """Take the cycle's chain head (as a cast does: held to the commit) and read the cycle again
    under it. The caller checks the window against the real time: the drawn cast times are earlier,
    so the cast itself would not see that voting closed meanwhile; and the roll read after this
    holds every ballot cast before."""
    lock_chain_head(session, batch.cycle_id)
    session.refresh(batch.cycle)


def _paper_times(start: datetime, end: datetime, n: int) -> list[datetime]:
    """`n` cast times drawn uniformly between the batch's opening and now, distinct to the
    microsecond (the resolution of the record) when the span allows, sorted."""
    span = max(int((end - start) / timedelta(microseconds=1)), 0)
    if n <= span + 1:
        offsets = _random.sample(range(span + 1), n)
    else:
        offsets = [_random.randrange(span + 1) for _ in range(n)]
    return [start + timedelta(microseconds=o) for o in sorted(offsets)]


def _pairs(choices: str) -> list[tuple[int, int]]:
    return [tuple(int(n) for n in item.split(":")) for item in choices.split(",") if item]


def _cast_paper(session, batch: PaperBatch, casting: CastingCycle, resident: Resident, choices: str,
                cast_at: datetime) -> str | None:
    """Cast one reconciled paper ballot; the code of the refusal, or None when it was recorded."""
    try:
        with session.begin_nested():
            cast_ballot(session, casting, Voter.of_resident(resident), _pairs(choices), Channel.PAPER, batch.round1_by,
                        cast_at)
    except DomainError as error:
        return error.code
    return None


def _refuse_staff_decides():
    raise Conflict(_("This resident already voted: the community's staff decide about this paper ballot."),
                   "staff_decide")


def _refuse_finished_round(batch: PaperBatch, number: int):
    if number == 1 and batch.round2_by_id is None:
        raise Forbidden(_("You typed the first round of this batch. The second round must be typed by "
                          "a different person."), "same_person")
    raise Conflict(_("Your round of this batch is finished; only disputed entries can be typed again."),
                   "round_finished")
