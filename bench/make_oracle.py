"""Compute pabutools' answers for every tests/data/*.pb file and store them in a small JSON file.

pabutools is the reference our tally is checked against, but it needs up to a minute on some
files, so the test suite reads its answers from ``tests/data/pabutools_oracle.json`` (and still
runs pabutools live on the files where it is fast). Run this again after adding a file:

    .venv/bin/python bench/make_oracle.py

For every file it records, in order of selection, the projects chosen by

- ``greedy``: ``greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)``;
- ``mes``: ``exhaustion_by_budget_increase(instance, profile, method_of_equal_shares,
  {"sat_class": Cost_Sat}, budget_step=<number of voters>)``, that is MES with add-one completion,

and the seconds each took.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pabutools.election import Cost_Sat, parse_pabulib
from pabutools.rules import (
    exhaustion_by_budget_increase,
    greedy_utilitarian_welfare,
    method_of_equal_shares,
)

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
ORACLE_PATH = DATA / "pabutools_oracle.json"


def pabutools_greedy(path: Path) -> list[str]:
    """Project ids chosen by pabutools' greedy rule with cost satisfaction."""
    instance, profile = parse_pabulib(str(path))
    outcome = greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)
    return [project.name for project in outcome]


def pabutools_mes(path: Path) -> list[str]:
    """Project ids chosen by pabutools' MES with cost satisfaction and add-one completion."""
    instance, profile = parse_pabulib(str(path))
    outcome = exhaustion_by_budget_increase(
        instance,
        profile,
        method_of_equal_shares,
        {"sat_class": Cost_Sat},
        budget_step=profile.num_ballots(),
    )
    return [project.name for project in outcome]


RULES = {"greedy": pabutools_greedy, "mes": pabutools_mes}


def timed(function, path: Path) -> tuple[list[str], float]:
    """Run ``function(path)`` and return its answer with the seconds it took."""
    started = time.perf_counter()
    answer = function(path)
    return answer, time.perf_counter() - started


def oracle_entry(path: Path) -> dict:
    """The oracle answers and timings for one file."""
    entry: dict = {"seconds": {}}
    for rule, function in RULES.items():
        entry[rule], seconds = timed(function, path)
        entry["seconds"][rule] = round(seconds, 3)
    return entry


def main(paths: list[Path]) -> None:
    oracle = {}
    for path in paths:
        oracle[path.name] = oracle_entry(path)
        seconds = oracle[path.name]["seconds"]
        print(f"{path.name}: greedy {seconds['greedy']:.2f} s, mes {seconds['mes']:.2f} s", flush=True)
    ORACLE_PATH.write_text(json.dumps(oracle, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {ORACLE_PATH}")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]] or sorted(DATA.glob("*.pb")))
