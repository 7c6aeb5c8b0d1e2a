"""Real ballots for the demo's cycles of last year, so that an auditor can download a closed
cycle's ballot record, verify it and count it again.

The demo builds last year's cycles already in implementation, with the projects it shows as funded
or being built. Here every such cycle is voted again for real, through `cast_ballot`: about two
thirds of the community's demo residents vote between the cycle's opening and closing times
(online, a quarter assisted at the door by their grid worker, some revising their ballot once),
with ballots drawn so that the cycle's rule funds exactly the projects the demo shows as funded.
Then the result is counted and stored as when voting closed. Deterministic for a seed (the receipt
codes aside, which are random by design).
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import select

from ..accounts.models import User
from ..ballots.casting import CastingCycle, Voter
from ..ballots.services import cast_ballot
from ..cycles.models import Cycle
from ..enums import Channel, Phase, Role
from ..proposals.ballot import ballot_projects
from ..results.services import VOTE_TYPES, count_votes, ensure_result, selected_ids
from ..tally import Election, Project as TallyProject

FUNDED = ("funded", "in_progress", "completed", "accepted")
TURNOUT = (0.55, 0.85)
ASSISTED_SHARE = 0.25
REVISING_SHARE = 0.15


class DemoBallotsError(RuntimeError):
    """The drawn ballots did not count to the demo's funded projects (a bug in the demo)."""


def vote_last_year(session, seed: int, now: datetime) -> int:
    """Cast and count the ballots of every cycle of last year in implementation; return how many
    ballot versions were recorded."""
    rng = random.Random(f"ballots-{seed}")
    cycles = session.scalars(select(Cycle).where(Cycle.year == now.year - 1, Cycle.phase == Phase.IMPLEMENTATION)
                             .order_by(Cycle.id)).all()
    workers = {u.grid_id: u for u in session.scalars(select(User).where(User.role == Role.GRID_WORKER))}
    return sum(_vote(session, rng, cycle, workers) for cycle in cycles)


def _vote(session, rng: random.Random, cycle: Cycle, workers: dict) -> int:
    projects = ballot_projects(session, cycle)
    shown = {p.id: p.status for p in projects}
    funded = {p.id for p in projects if p.status in FUNDED}
    residents = session.scalars(select(User).where(User.community_id == cycle.community_id, User.role == Role.RESIDENT)
                                .order_by(User.id)).all()
    voters = rng.sample(residents, max(1, round(len(residents) * rng.uniform(*TURNOUT))))
    finals = _ballots_funding(rng, cycle, projects, funded, len(voters))
    events = []
    span = (cycle.voting_closes_at - cycle.voting_opens_at).total_seconds()
    for voter, final in zip(voters, finals):
        at = rng.uniform(0.05, 0.98) * span
        if rng.random() < REVISING_SHARE:
            events.append((rng.uniform(0.0, at), voter, _draw(rng, projects, funded, cycle.max_choices)))
        events.append((at, voter, final))
    # Vote: the cycle as it was then (in voting, every project on the ballot), then as it is now.
    for project in projects:
        project.status = "on_ballot"
    cycle.phase = "voting"
    session.flush()
    for seconds, voter, choices in sorted(events, key=lambda event: event[0]):
        at = cycle.voting_opens_at + timedelta(seconds=round(seconds, 6))
        worker = workers.get(voter.resident.grid_id)
        casting = CastingCycle.read(session, cycle)
        if rng.random() < ASSISTED_SHARE and worker is not None:
            cast_ballot(session, casting, Voter.of_resident(voter.resident), [(p, 1) for p in choices], Channel.ASSISTED,
                        worker, at)
        else:
            cast_ballot(session, casting, Voter.of_account(voter), [(p, 1) for p in choices], Channel.ONLINE, None, at)
    cycle.phase = "implementation"
    session.flush()
    result = ensure_result(session, cycle, cycle.results_published_at)
    if set(selected_ids(result)) != funded:
        raise DemoBallotsError(f"cycle {cycle.id}: the ballots fund {selected_ids(result)}, "
                               f"the demo shows {sorted(funded)}")
    for project in projects:
        project.status = shown[project.id]
    session.flush()
    return len(events)


def _ballots_funding(rng: random.Random, cycle: Cycle, projects, funded: set[int], count: int) -> list[list[int]]:
    """`count` approval ballots that the cycle's rule counts to exactly the `funded` projects:
    drawn at random, favouring the funded ones, until they do (every voter choosing exactly the
    funded projects as the last resort)."""
    for _attempt in range(50):
        ballots = [_draw(rng, projects, funded, cycle.max_choices) for _ in range(count)]
        if _funds(cycle, projects, ballots) == funded:
            return ballots
    return [sorted(funded)] * count


def _draw(rng: random.Random, projects, funded: set[int], most: int | None) -> list[int]:
    """One ballot: each funded project with a good chance, each other one with a smaller."""
    chosen = [p.id for p in projects if rng.random() < (0.8 if p.id in funded else 0.3)]
    rng.shuffle(chosen)
    chosen = chosen[:most] if most else chosen
    return sorted(chosen) or [rng.choice(sorted(funded) or [p.id for p in projects])]


def _funds(cycle: Cycle, projects, ballots: list[list[int]]) -> set[int]:
    election = Election.from_values([TallyProject(p.id, p.ballot_cost_fen) for p in projects], cycle.fund_fen,
                                    ballots, vote_type=VOTE_TYPES[cycle.method], threshold=cycle.threshold)
    return set(count_votes(election, cycle.outcome_rule, cycle.threshold).selected)
