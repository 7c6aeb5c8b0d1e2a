"""An election as plain, exact values: the projects, the budget and the ballots.

Every outcome rule reads an :class:`Election`; the pabulib reader builds one from a file and the app
builds one from database rows with :meth:`Election.from_values`. Nothing here knows about files,
web requests or databases.

Ballots are stored as tuples of project ids in the order the voter gave them. Points are kept only
when the voter gave them (cumulative and scoring ballots, ordinal files with a ``points`` column);
otherwise a ballot gives one point to each project it names (approval, choose-1, knapsack), or, for
ordinal ballots, pabulib's positional points: of a ballot naming k projects, the first gets k
points, the second k - 1, ... the last 1.
"""
from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Union

from .amounts import Amount, exact

ProjectId = Union[int, str]
Ballot = tuple[ProjectId, ...]

APPROVAL_TYPES = frozenset({"approval", "choose-1", "knapsack"})
POINTS_TYPES = frozenset({"cumulative", "scoring"})
VOTE_TYPES = APPROVAL_TYPES | POINTS_TYPES | {"ordinal"}


class ElectionError(ValueError):
    """Values that do not make an election: unknown project, negative cost, bad points ..."""


@dataclass(frozen=True)
class Project:
    """One project on the ballot. ``cost`` is exact (int or Fraction, in the election's unit)."""

    id: ProjectId
    cost: Amount
    name: str = ""
    category: str = ""


@dataclass(frozen=True)
class Election:
    """The projects (in their listed order), the budget, the ballots and the voting rules.

    Build one with :meth:`from_values` (validated) or with the pabulib reader. ``points`` is
    either None or holds one tuple of points per ballot, parallel to ``ballots``.
    """

    projects: Mapping[ProjectId, Project]
    budget: Amount
    ballots: tuple[Ballot, ...]
    points: tuple[tuple[Amount, ...], ...] | None = None
    vote_type: str = "approval"
    min_length: int | None = None
    max_length: int | None = None
    threshold: Amount | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def from_values(
        cls,
        projects: Iterable[Project],
        budget: object,
        ballots: Iterable[Iterable[ProjectId] | Mapping[ProjectId, object]],
        *,
        vote_type: str = "approval",
        threshold: object = None,
        min_length: int | None = None,
        max_length: int | None = None,
        meta: Mapping[str, str] | None = None,
    ) -> Election:
        """Build a checked election from plain values (as the app holds them).

        ``ballots`` holds, per voter, the ids of the chosen projects (approval, choose-1,
        knapsack; in rank order for ordinal) or, for cumulative and scoring, a mapping from
        project id to points. A ballot naming a project twice counts it once (the first time);
        ``notes`` records each such ballot. Money may be int, Fraction, Decimal or a decimal string.

        :raises ElectionError: for unknown vote types, duplicate or unknown project ids, negative
            or inexact money, and bad points.
        """
        if vote_type not in VOTE_TYPES:
            raise ElectionError(f"unknown vote type '{vote_type}'; expected one of {sorted(VOTE_TYPES)}")
        project_map = _project_map(projects)
        notes: list[str] = []
        if vote_type in POINTS_TYPES:
            ballot_ids, points = _points_ballots(ballots, project_map)
        else:
            ballot_ids, points = _id_ballots(ballots, project_map, notes), None
        return cls(
            projects=project_map,
            budget=_non_negative(budget, "budget"),
            ballots=ballot_ids,
            points=points,
            vote_type=vote_type,
            min_length=min_length,
            max_length=max_length,
            threshold=None if threshold is None else _non_negative(threshold, "threshold"),
            meta=dict(meta or {}),
            notes=tuple(notes),
        )

    def weighted_ballots(self) -> Iterator[tuple[Ballot, tuple[Amount, ...]]]:
        """Yield each ballot with the points it gives to each project it names."""
        if self.points is not None:
            yield from zip(self.ballots, self.points)
        elif self.vote_type == "ordinal":
            for ballot in self.ballots:
                yield ballot, tuple(range(len(ballot), 0, -1))
        else:
            for ballot in self.ballots:
                yield ballot, (1,) * len(ballot)

    @cached_property
    def votes(self) -> dict[ProjectId, int]:
        """How many ballots name each project (zero included), in project order."""
        counts = Counter(itertools.chain.from_iterable(self.ballots))
        return {project_id: counts[project_id] for project_id in self.projects}

    @cached_property
    def scores(self) -> dict[ProjectId, Amount]:
        """Each project's score, the sum of the points it received, in project order."""
        if self.points is None and self.vote_type != "ordinal":
            return self.votes
        totals: dict[ProjectId, Amount] = dict.fromkeys(self.projects, 0)
        for ballot, points in self.weighted_ballots():
            for project_id, point in zip(ballot, points):
                totals[project_id] += point
        return totals

    @cached_property
    def position(self) -> dict[ProjectId, int]:
        """Each project's index in the project list (file order), the last tie-breaker."""
        return {project_id: index for index, project_id in enumerate(self.projects)}


def _project_map(projects: Iterable[Project]) -> dict[ProjectId, Project]:
    project_map: dict[ProjectId, Project] = {}
    for project in projects:
        if project.id in project_map:
            raise ElectionError(f"project id {project.id!r} is listed twice")
        cost = _non_negative(project.cost, f"cost of project {project.id!r}")
        project_map[project.id] = Project(project.id, cost, project.name, project.category)
    return project_map


def _non_negative(value: object, what: str) -> Amount:
    try:
        amount = exact(value)
    except (TypeError, ValueError) as error:
        raise ElectionError(f"{what}: {error}") from None
    if amount < 0:
        raise ElectionError(f"{what} is negative: {value}")
    return amount


def _id_ballots(
    ballots: Iterable[Iterable[ProjectId]], project_map: Mapping[ProjectId, Project], notes: list[str]
) -> tuple[Ballot, ...]:
    checked = []
    for number, ballot in enumerate(ballots, start=1):
        ids = tuple(ballot)
        if len(set(ids)) != len(ids):
            notes.append(f"ballot {number} names a project twice; it is counted once")
            ids = tuple(dict.fromkeys(ids))
        checked.append(ids)
    _check_known(checked, project_map)
    return tuple(checked)


def _points_ballots(
    ballots: Iterable[Mapping[ProjectId, object]], project_map: Mapping[ProjectId, Project]
) -> tuple[tuple[Ballot, ...], tuple[tuple[Amount, ...], ...]]:
    ids: list[Ballot] = []
    points: list[tuple[Amount, ...]] = []
    for number, ballot in enumerate(ballots, start=1):
        if not isinstance(ballot, Mapping):
            raise ElectionError(f"ballot {number}: cumulative and scoring ballots map project ids to points")
        ids.append(tuple(ballot))
        points.append(tuple(_non_negative(value, f"ballot {number} points") for value in ballot.values()))
    _check_known(ids, project_map)
    return tuple(ids), tuple(points)


def _check_known(ballots: list[Ballot], project_map: Mapping[ProjectId, Project]) -> None:
    unknown = set(itertools.chain.from_iterable(ballots)).difference(project_map)
    if unknown:
        first = next(number for number, ballot in enumerate(ballots, 1) if not unknown.isdisjoint(ballot))
        raise ElectionError(f"ballot {first} names unknown project(s) {sorted(map(repr, unknown))}")
