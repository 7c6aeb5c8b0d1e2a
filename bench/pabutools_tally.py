"""pabutools as a whole process, the baseline of ``bench/tally_process.py``: load a pabulib file and
run the same rule as ``bench/tally.py``, then print the funded project ids as JSON.

    .venv/bin/python bench/pabutools_tally.py greedy|mes FILE.pb
"""
from __future__ import annotations

import json
import sys

from pabutools.election import Cost_Sat, parse_pabulib
from pabutools.rules import exhaustion_by_budget_increase, greedy_utilitarian_welfare, method_of_equal_shares


def main(rule: str, path: str) -> None:
    instance, profile = parse_pabulib(path)
    if rule == "greedy":
        outcome = greedy_utilitarian_welfare(instance, profile, sat_class=Cost_Sat)
    else:
        outcome = exhaustion_by_budget_increase(instance, profile, method_of_equal_shares,
                                                {"sat_class": Cost_Sat}, budget_step=profile.num_ballots())
    print(json.dumps([project.name for project in outcome]))


if __name__ == "__main__":
    main(*sys.argv[1:3])
