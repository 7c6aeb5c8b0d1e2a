"""The voting method's rules, checked on a ballot's choices (no database, no request).

Checks run in this order and the first failure is the answer (SPEC §5 codes, all 422):
unknown_project, duplicate_project, bad_points, too_few_choices, too_many_choices, over_budget.

- approval: between min_choices and max_choices projects (max None: no upper limit);
- knapsack: at least min_choices projects whose total cost is within the fund;
- cumulative: at least min_choices projects, each given at least 1 point, in all at most `points`;
- choose_one: exactly one project.
Points other than 1 are refused outside cumulative voting.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import Invalid
from ..money import yuan_grouped


@dataclass(frozen=True)
class BallotRules:
    method: str
    min_choices: int
    max_choices: int | None
    points: int | None
    fund_fen: int
    voters: str = "adults"  # or "households": one vote per household, the first of it to vote

    @classmethod
    def of(cls, cycle) -> "BallotRules":
        return cls(cycle.method, cycle.min_choices, cycle.max_choices, cycle.points, cycle.fund_fen, cycle.voters)

    @property
    def per_household(self) -> bool:
        return self.voters == "households"

    @property
    def fewest(self) -> int:
        return 1 if self.method == "choose_one" else self.min_choices

    @property
    def most(self) -> int | None:
        if self.method == "choose_one":
            return 1
        return self.max_choices if self.method == "approval" else None


def _project_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) < 12:
        return int(value.strip())
    return None


def _shown(value) -> str:
    text = str(value)
    return text if len(text) <= 20 else text[:20] + "…"


def validate_choices(rules: BallotRules, costs: dict[int, int], pairs) -> dict[int, int]:
    """Check (project, points) pairs against the rules; return {project id: points}.

    `costs` maps every project on the ballot to its cost in fen.

    :raises Invalid: with the code of the first rule broken (see the module docstring).
    """
    pairs = list(pairs)
    ids = []
    for project, _points in pairs:
        project_id = _project_id(project)
        if project_id is None or project_id not in costs:
            raise Invalid(_("Project %(id)s is not on this ballot.", id=_shown(project)), "unknown_project")
        ids.append(project_id)
    seen = set()
    for project_id in ids:
        if project_id in seen:
            raise Invalid(_("Project %(id)s is chosen twice; choose each project once.", id=project_id),
                          "duplicate_project")
        seen.add(project_id)
    chosen = {}
    for project_id, (_project, points) in zip(ids, pairs):
        if isinstance(points, bool) or not isinstance(points, int):
            raise Invalid(_("Points are whole numbers."), "bad_points")
        if rules.method == "cumulative":
            if points < 1:
                raise Invalid(_("Give each chosen project at least 1 point."), "bad_points")
        elif points != 1:
            raise Invalid(_("This vote has no points: a project is chosen or not."), "bad_points")
        chosen[project_id] = points
    if rules.method == "cumulative" and sum(chosen.values()) > (rules.points or 0):
        raise Invalid(_("You gave %(given)d points; you have %(n)d to give.", given=sum(chosen.values()),
                        n=rules.points or 0), "bad_points")
    if len(chosen) < rules.fewest:
        raise Invalid(_("You chose %(n)d projects; choose at least %(min)d.", n=len(chosen), min=rules.fewest),
                      "too_few_choices")
    if rules.most is not None and len(chosen) > rules.most:
        raise Invalid(_("You chose %(n)d projects; choose at most %(max)d.", n=len(chosen), max=rules.most),
                      "too_many_choices")
    if rules.method == "knapsack":
        total = sum(costs[p] for p in chosen)
        if total > rules.fund_fen:
            raise Invalid(_("Your projects cost ¥%(total)s together, more than the fund of ¥%(fund)s; "
                            "leave one out.", total=yuan_grouped(total), fund=yuan_grouped(rules.fund_fen)),
                          "over_budget")
    return chosen
