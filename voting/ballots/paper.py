"""Paper ballots: a grid's batch, typed in twice by two different people, reconciled.

1. A grid worker (their own grid) or community staff (any grid of the community) opens a batch;
   the opener types round 1.
2. Each entry is one paper ballot against the roll: an active resident of the batch's grid and
   the choices, checked against the cycle's rules as they are typed.
3. A different person types the same papers as round 2, without seeing round 1. The same person
   can never type both rounds (refused here, and by a check constraint).
4. When both rounds are finished the batch is reconciled: a resident whose two entries agree gets
   a ballot (channel `paper`, recorded by the round-1 person; the latest recorded ballot counts,
   whatever its channel), and the entries' choices are erased. Everything else is listed as a
   dispute: the rounds differ, or the paper is in one round only, or the ballot was refused
   (for example the resident moved). The round owners re-type or remove the disputed entries
   and reconcile again.

Disputes show the resident and the kind of problem, never the choices.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from ..accounts.models import User
from ..cycles.models import Cycle
from ..errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from ..geography.models import Grid
from ..residents.models import Resident
from .chain import format_choices
from .models import PaperBatch, PaperEntry
from .rules import BallotRules, validate_choices
from .services import ballot_costs, cast_ballot, ensure_voting_open

PROBLEMS = ("differs", "only_round_1", "only_round_2")


def check_paper_scope(user: User, grid: Grid) -> None:
    """:raises Forbidden: unless the user is the grid's worker or staff of its community."""
    if not ((user.role == "grid_worker" and user.grid_id == grid.id)
            or (user.role == "staff" and user.community_id == grid.community_id)):
        raise Forbidden(_("Paper ballots of this grid are entered by its grid worker or the community's "
                          "staff."), "not_your_grid")


def paper_grids(session, user: User, cycle: Cycle) -> list[Grid]:
    """The grids of the cycle's community whose paper ballots the user may enter."""
    stmt = select(Grid).where(Grid.community_id == cycle.community_id).order_by(Grid.code)
    if user.role == "grid_worker":
        stmt = stmt.where(Grid.id == user.grid_id)
    elif not (user.role == "staff" and user.community_id == cycle.community_id):
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
    check_paper_scope(user, batch.grid)
    return batch


def create_batch(session, user: User, cycle: Cycle, grid_id: int, label: str, now: datetime) -> PaperBatch:
    """Open a batch of a grid's paper ballots; its opener types round 1.

    :raises NotFound: a grid of another community. :raises Forbidden: not_your_grid.
    :raises Conflict: voting_closed.
    """
    grid = session.get(Grid, grid_id)
    if grid is None or grid.community_id != cycle.community_id:
        raise NotFound(_("There is no such grid in this community."), "unknown_grid")
    check_paper_scope(user, grid)
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


def add_entry(session, user: User, batch: PaperBatch, resident_id, pairs, now: datetime) -> PaperEntry:
    """Type one paper ballot into the user's round (or re-type it, for a disputed one).

    :raises Forbidden: not_your_grid, rounds_taken, same_person.
    :raises Conflict: voting_closed, round_finished, already_counted.
    :raises Invalid: not_on_roll, and the rule codes of `rules.py`.
    """
    check_paper_scope(user, batch.grid)
    ensure_voting_open(batch.cycle.window, now)
    number = my_round(batch, user)
    resident = session.get(Resident, resident_id) if isinstance(resident_id, int) else None
    if resident is None or resident.grid_id != batch.grid_id or not resident.is_active:
        raise Invalid(_("Choose a resident on this grid's roll."), "not_on_roll")
    if round_done(batch, number) and resident.id not in disputed_residents(batch):
        _refuse_finished_round(batch, number)
    chosen = validate_choices(BallotRules.of(batch.cycle), ballot_costs(session, batch.cycle), pairs)
    entry = session.scalar(select(PaperEntry).where(PaperEntry.batch_id == batch.id, PaperEntry.round == number,
                                                    PaperEntry.resident_id == resident.id))
    if entry is not None and entry.status == "accepted":
        raise Conflict(_("This resident's paper ballot in this batch is already counted."), "already_counted")
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
    """Remove an entry of the user's own round (after the round is finished: a disputed one only).

    :raises NotFound, Conflict: round_finished, already_counted.
    """
    check_paper_scope(user, batch.grid)
    number = my_round(batch, user)
    entry = next((e for e in batch.entries if e.id == entry_id and e.round == number), None)
    if entry is None:
        raise NotFound(_("There is no such entry in your round."), "unknown_entry")
    if entry.status == "accepted":
        raise Conflict(_("This resident's paper ballot in this batch is already counted."), "already_counted")
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
    check_paper_scope(user, batch.grid)
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

    Each ballot is cast in its own savepoint, so one refused ballot leaves the others standing.

    :raises Conflict: rounds_not_finished.
    """
    check_paper_scope(user, batch.grid)
    if not (batch.round1_done_at and batch.round2_done_at):
        raise Conflict(_("Both rounds must be finished before the batch is reconciled."), "rounds_not_finished")
    pairs: dict[int, dict[int, PaperEntry]] = {}
    for entry in batch.entries:
        if entry.status != "accepted":
            pairs.setdefault(entry.resident_id, {})[entry.round] = entry
    accepted = disputed = 0
    for resident_id, rounds in sorted(pairs.items()):
        first, second = rounds.get(1), rounds.get(2)
        if first and second and first.choices == second.choices:
            problem = _cast_paper(session, batch, session.get(Resident, resident_id), first.choices, now)
        else:
            problem = "differs" if first and second else ("only_round_1" if first else "only_round_2")
        for entry in rounds.values():
            if problem is None:
                entry.status, entry.choices, entry.problem = "accepted", None, None
            else:
                entry.status, entry.problem = "disputed", problem
        if problem is None:
            accepted += 1
        else:
            disputed += 1
    batch.accepted_count += accepted
    batch.reconciled_at = now
    session.flush()
    return Reconciliation(accepted, disputed)


def _cast_paper(session, batch: PaperBatch, resident: Resident, choices: str, now: datetime) -> str | None:
    """Cast one reconciled paper ballot; the code of the refusal, or None when it was recorded."""
    pairs = [tuple(int(n) for n in item.split(":")) for item in choices.split(",") if item]
    try:
        with session.begin_nested():
            cast_ballot(session, batch.cycle, resident, pairs, "paper", batch.round1_by, now)
    except DomainError as error:
        return error.code
    return None


def _refuse_finished_round(batch: PaperBatch, number: int):
    if number == 1 and batch.round2_by_id is None:
        raise Forbidden(_("You typed the first round of this batch. The second round must be typed by "
                          "a different person."), "same_person")
    raise Conflict(_("Your round of this batch is finished; only disputed entries can be typed again."),
                   "round_finished")
