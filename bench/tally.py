"""Benchmark the tally: every shared pabulib file against pabutools, and a million-ballot election.

    .venv/bin/python -m bench.tally                  # everything (pabutools needs ~3 minutes)
    .venv/bin/python -m bench.tally --no-pabutools   # our timings only
    .venv/bin/python -m bench.tally --no-files       # only the synthetic city-wide election
    .venv/bin/python -m bench.tally --no-files --fund 150000000   # ... with a bigger fund

For each file: our time and pabutools' time, measured in the same run, for ``greedy``
(pabutools: ``greedy_utilitarian_welfare`` with ``Cost_Sat``) and ``mes`` (pabutools:
``exhaustion_by_budget_increase`` over ``method_of_equal_shares`` with ``Cost_Sat``, budget step =
number of voters), parsing excluded on both sides, with the ratio and whether the funded sets agree.
Times are CPU seconds (the machine may be busy with other work); ours is the best of three runs,
pabutools runs once. Points are dropped on both sides for the comparison (pabutools' ``Cost_Sat``
counts a project named on a ballot as approved), so ``greedy`` here ranks by number of voters.

The synthetic election (seed 2024): 1,000,000 approval ballots over 150 projects, each voter
choosing 1 to 3 projects with Zipf-like popularity; project costs from 200,000 to 4,000,000 yuan;
a fund of 50,000,000 yuan (about a quarter of the projects get funded; ``--fund`` sets another).
"""
from __future__ import annotations

import argparse
import bisect
import dataclasses
import itertools
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voting.tally import Election, Project, read_pb, tally  # noqa: E402

DATA = ROOT / "tests" / "data"
SEED = 2024


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, object]:
    """The least CPU time of ``runs`` calls (robust to other load on the machine), and the answer."""
    best, answer = float("inf"), None
    for _ in range(runs):
        started = time.process_time()
        answer = action()
        best = min(best, time.process_time() - started)
    return best, answer


def pabutools_rules(path: Path) -> dict[str, Callable[[], set[str]]]:
    """pabutools' greedy and MES on the parsed file, as calls returning the funded ids."""
    from pabutools.election import Cost_Sat, parse_pabulib
    from pabutools.rules import (
        exhaustion_by_budget_increase,
        greedy_utilitarian_welfare,
        method_of_equal_shares,
    )

    instance, profile = parse_pabulib(str(path))

    def greedy() -> set[str]:
        return {p.name for p in greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)}

    def mes() -> set[str]:
        outcome = exhaustion_by_budget_increase(
            instance,
            profile,
            method_of_equal_shares,
            {"sat_class": Cost_Sat},
            budget_step=profile.num_ballots(),
        )
        return {p.name for p in outcome}

    return {"greedy": greedy, "mes": mes}


def bench_files(with_pabutools: bool) -> None:
    print("file                                        rule      ours (s)  pabutools (s)    ratio  agree")
    for path in sorted(DATA.glob("*.pb")):
        election = read_pb(path)
        approvals = dataclasses.replace(election, points=None, vote_type="approval")
        theirs = pabutools_rules(path) if with_pabutools else {}
        for rule in ("greedy", "mes"):
            ours_time, result = best_of(3, lambda: tally(approvals, rule))
            line = f"{path.stem[:42]:<43} {rule:<8} {ours_time:9.4f}"
            if rule in theirs:
                their_time, their_answer = best_of(1, theirs[rule])
                agree = "yes" if set(result.selected) == their_answer else "NO"
                line += f"  {their_time:13.3f}  {their_time / ours_time:7.0f}x  {agree}"
            print(line, flush=True)


def synthetic_election(voters: int = 1_000_000, project_count: int = 150, fund: int = 50_000_000) -> Election:
    """The deterministic city-wide approval election described in the module docstring."""
    generator = random.Random(SEED)
    projects = [Project(number, generator.randrange(20, 401) * 10_000, f"project {number}") for number in
                range(1, project_count + 1)]
    popularity = [1 / rank**0.9 for rank in range(1, project_count + 1)]
    generator.shuffle(popularity)
    cumulative = list(itertools.accumulate(popularity))
    ballots = []
    for _ in range(voters):
        size = generator.choices((1, 2, 3), (3, 3, 4))[0]
        chosen: set[int] = set()
        while len(chosen) < size:
            chosen.add(bisect.bisect(cumulative, generator.random() * cumulative[-1]) + 1)
        ballots.append(tuple(chosen))
    return Election.from_values(projects, fund, ballots)


def bench_synthetic(fund: int) -> None:
    started = time.process_time()
    election = synthetic_election(fund=fund)
    print(f"synthetic: {len(election.ballots):,} ballots, {len(election.projects)} projects, "
          f"{len(set(map(frozenset, election.ballots))):,} distinct ballots, "
          f"generated and checked in {time.process_time() - started:.2f} s")
    for rule in ("greedy", "mes"):
        seconds, result = best_of(1, lambda: tally(election, rule))
        print(f"synthetic {rule:<8} {seconds:7.2f} s  {len(result.selected)} projects funded, "
              f"cost {result.cost:,} of {result.budget:,}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-pabutools", action="store_true", help="time only our tally")
    parser.add_argument("--no-files", action="store_true", help="skip the shared pabulib files")
    parser.add_argument("--no-synthetic", action="store_true", help="skip the million-ballot election")
    parser.add_argument("--fund", type=int, default=50_000_000, help="the synthetic election's fund (yuan)")
    options = parser.parse_args()
    if not options.no_files:
        bench_files(with_pabutools=not options.no_pabutools)
    if not options.no_synthetic:
        bench_synthetic(options.fund)


if __name__ == "__main__":
    main()
