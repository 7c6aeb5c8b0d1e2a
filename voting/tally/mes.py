"""The Method of Equal Shares with cost utilities and add-one completion: exact, and fast.

**The rule** (https://equalshares.net). The budget B is split equally among the n voters. Round
after round, among the projects whose supporters together still hold at least the cost, MES funds
the one needing the smallest factor ρ, each supporter paying ``min(own money, ρ·utility)``. With
cost utilities (pabutools' ``Cost_Sat``: a supporter's utility for a project is its cost, whatever
points the ballot gave it), every supporter pays at most the same share ``t = ρ·cost``. The run
ends when no project is affordable. Supported projects that cost nothing are funded first.

**Add-one completion** (pabulib rule ``equalshares/add1``; pabutools'
``exhaustion_by_budget_increase`` with ``budget_step`` = n). Run MES with each voter holding B/n,
then B/n + 1, B/n + 2 ... (one currency unit more each time). Stop at the first run whose outcome
costs more than B (keep the previous run's outcome), or whose outcome is exhaustive (no other
project fits within B: keep it); give up raising, keeping the last outcome, once the voters' total
money would pass B·(n + 1).

**How it stays exact.** Money is held as integers over one common denominator that grows as shares
are paid; every comparison that decides anything is between integers. Floats appear only to order
the projects to look at, to skip checks whose outcome is clear by a wide margin, and in the float
runs below, whose every decision is certified with rigorous bounds (anything close is left to an
exact run).

**How it is fast.**

- Voters with the same ballot form a group; groups that paid for the same funded projects hold the
  same money at every point of the run (a *budget class*), so a round works on classes, and numpy
  only gathers which class each supporter group is in.
- A naive completion runs MES once per raise (hundreds of runs). Most raises change nothing. While
  it runs at one raise, each run also carries straight lines, in the number Δ of further raises,
  that bound every class's money from below and above (a share is a convex function of the
  supporters' money, so its tangent bounds it from below and a chord from above). From them it
  computes how many further raises provably repeat every decision of the run; those raises are
  skipped, their outcome being this run's.
- Where the decisions change from one raise to the next (Amsterdam's Buurtbudget Noord Oost: at
  19 of its 29 raises), nothing can be skipped. There, elections with few supporter groups run the
  next 32 raises at once (:func:`_float_runs`): numpy arrays with a column per raise hold an
  interval around each group's money, and a decision is taken only when it holds for every money
  in the intervals (checked on the supporters' payments, which grow with the share and with the
  money). A raise whose decision it cannot vouch for, a near-tie, is run exactly. Only the raise
  the completion returns is then run exactly, replaying the known decisions, for its shares and
  leftover money. Elections small enough for these arrays start with such a window, which costs
  little there.

**Ties** between projects with the same ρ go to the better-ranked project (the tally's tie-break).
"""
from __future__ import annotations

import math
import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .amounts import Amount, normalize
from .election import Election, ProjectId

SLOPE_SCALE = 1 << 32
"""Slopes of the bound lines are integers over this fixed denominator (rounded outwards)."""

_MARGIN = 1e-9
"""Relative margin above which a float comparison of exact values is trusted."""

WINDOW = 32
"""How many raises :func:`_float_runs` takes at once."""

BATCH_LIMIT = 50_000
"""Elections with more (supporter group, project) pairs than this are not run in floats: their
groups are too many for arrays over groups to beat the exact runs, which work on budget classes."""

Line = tuple[int, int, int, int]
"""A line in Δ with rational coefficients: (a, b, c, d) means a/b + (c/d)·Δ."""


@dataclass(frozen=True)
class MesOutcome:
    """What MES funded, and the figures that explain it."""

    selected: tuple[ProjectId, ...]
    """Funded projects, in the order MES funded them."""
    shares: Mapping[ProjectId, Amount]
    """For each funded project, the most any of its supporters paid (the share t)."""
    leftover: Mapping[ProjectId, Amount]
    """For each supported project not funded, its supporters' money at the end of the run."""
    voter_budget: Amount
    """Each voter's starting money in the run that gave the outcome."""
    raises: int
    """How many add-one raises the outcome's run had (0: plain MES): the last raise before the
    completion stopped, the run pabutools returns."""
    runs: int
    """How many raises were run (exactly, or in floats many at once); the others were skipped as
    provably unchanged."""


def equal_shares(
    election: Election, rank: Mapping[ProjectId, int], *, completion: bool = True, increment: Amount = 1
) -> MesOutcome:
    """Run MES on ``election``, with add-one completion unless ``completion`` is False.

    ``rank`` orders the projects for ties (lower wins); ``increment`` is the per-voter raise of
    the completion (one currency unit).

    :raises ValueError: when ``increment`` is not positive.
    """
    if increment <= 0:
        raise ValueError(f"the completion's increment must be positive, not {increment}")
    profile = _Profile(election, rank, increment)
    if not election.ballots:
        return _outcome(profile, None, runs=0)
    if not completion:
        return _outcome(profile, _Run(profile, 0, horizon=0).solve(), runs=1)
    return _complete(profile)


def _complete(profile: _Profile) -> MesOutcome:
    """Raise after raise until the stop rule fires, skipping what provably cannot change.

    Runs alternate between two kinds. An exact run proves how many further raises repeat it, and
    the loop jumps over them. When it cannot prove even one (its decisions change at the very next
    raise), the next ``WINDOW`` raises go to :func:`_float_runs`, which runs them all at once; a
    raise it cannot vouch for is run exactly. Small elections start with such a window.
    """
    raise_count, horizon, runs = 0, 1, 0
    previous: _Run | _Known | None = None  # the last raise that neither stopped nor exhausted
    in_floats = profile.batched
    while raise_count <= profile.last_raise:
        if in_floats:
            window = range(raise_count, min(raise_count + WINDOW, profile.last_raise + 1))
            for later, funded in zip(window, _float_runs(profile, window)):
                runs += 1
                known = _Run(profile, later, 0).solve() if funded is None else _Known(later, funded)
                selected = known.selected if isinstance(known, _Run) else profile.selected(funded)
                cost = sum(profile.election.projects[pid].cost for pid in selected)
                if cost > profile.budget:
                    return _outcome(profile, previous, runs)
                if profile.is_exhaustive(selected, cost):
                    return _outcome(profile, known, runs)
                previous = known
            raise_count, horizon, in_floats = window.stop, 1, False
            continue
        run = _Run(profile, raise_count, min(horizon, profile.last_raise - raise_count)).solve()
        runs += 1
        if run.cost > profile.budget:
            return _outcome(profile, previous, runs)
        if profile.is_exhaustive(run.selected, run.cost):
            return _outcome(profile, run, runs)
        # the last raise the run vouches for has the run's decisions
        previous = run if run.horizon == 0 else _Known(raise_count + run.horizon, run.funded)
        raise_count += 1 + run.horizon
        horizon = 2 * horizon if run.horizon == horizon else max(1, 2 * run.horizon)
        in_floats = run.horizon == 0 and profile.batched
    return _outcome(profile, previous, runs)


@dataclass(frozen=True)
class _Known:
    """A raise whose decisions are known (the projects funded, in order) but not its figures."""

    raise_count: int
    funded: list[int]


def _outcome(profile: _Profile, run: _Run | _Known | None, runs: int) -> MesOutcome:
    """The outcome of ``run``; a known raise is replayed exactly for its figures."""
    if run is None:
        return MesOutcome((), {}, {}, 0, 0, runs)
    if isinstance(run, _Known):
        run = _Run(profile, run.raise_count, 0).replay(run.funded)
    return MesOutcome(
        selected=tuple(run.selected),
        shares=run.shares,
        leftover=run.leftover(),
        voter_budget=profile.voter_budget(run.raise_count),
        raises=run.raise_count,
        runs=runs,
    )


class _Profile:
    """What MES needs from an election, computed once for all runs: groups, costs, scale."""

    def __init__(self, election: Election, rank: Mapping[ProjectId, int], increment: Amount):
        self.election = election
        self.budget = election.budget
        self.voters = len(election.ballots)
        self.increment = increment
        groups = _voter_groups(election.ballots)
        supporters = _supporters(groups, list(election.projects))
        costs = {pid: project.cost for pid, project in election.projects.items()}
        self.free = [pid for pid in election.projects if pid in supporters and costs[pid] == 0]
        self.ids = [pid for pid in election.projects if pid in supporters and costs[pid] > 0]
        unit = math.lcm(*(Fraction(x).denominator for x in [self.budget, increment, *costs.values()]))
        self.scale = unit * max(self.voters, 1)
        self.cost = [int(costs[pid] * self.scale) for pid in self.ids]
        self.rank = [rank[pid] for pid in self.ids]
        multiplicity = np.array([count for _, count in groups], dtype=np.float64)
        self.members = [supporters[pid] for pid in self.ids]
        self.weights = [multiplicity[members] for members in self.members]
        self.supporter_count = [int(weights.sum()) for weights in self.weights]
        self.group_count = len(groups)
        self.last_raise = math.floor(self.budget / increment)
        self.batched = sum(map(len, self.members)) <= BATCH_LIMIT

    def voter_budget(self, raise_count: int) -> Amount:
        """Each voter's money at the given raise, in the election's unit."""
        return normalize(Fraction(self.budget) / self.voters + raise_count * Fraction(self.increment))

    def scaled_voter_budget(self, raise_count: int) -> int:
        return int(self.voter_budget(raise_count) * self.scale)

    def scaled_increment(self) -> int:
        return int(self.increment * self.scale)

    def selected(self, funded: Sequence[int]) -> list[ProjectId]:
        """The projects a run selects, given the ones it funded (by position in ``ids``)."""
        return [*self.free, *(self.ids[i] for i in funded)]

    def is_exhaustive(self, selected: Sequence[ProjectId], cost: Amount) -> bool:
        """True when no unfunded project fits in what the real budget leaves (pabutools' test)."""
        chosen = set(selected)
        room = self.budget - cost
        return all(pid in chosen or project.cost > room for pid, project in self.election.projects.items())


def _voter_groups(ballots: Sequence[tuple[ProjectId, ...]]) -> list[tuple[frozenset, int]]:
    """Voters with the same set of chosen projects, with how many there are (first seen first)."""
    by_set: Counter = Counter()
    for ballot, count in Counter(ballots).items():
        by_set[frozenset(ballot)] += count
    return [(chosen, count) for chosen, count in by_set.items() if chosen]


def _supporters(
    groups: list[tuple[frozenset, int]], projects: list[ProjectId]
) -> dict[ProjectId, np.ndarray]:
    """The groups that chose each project some group chose (ascending)."""
    column = {pid: index for index, pid in enumerate(projects)}
    chosen = np.array([column[pid] for ballot, _ in groups for pid in ballot], dtype=np.int64)
    group = np.repeat(np.arange(len(groups)), [len(ballot) for ballot, _ in groups])
    counts = np.bincount(chosen, minlength=len(projects))
    members = np.split(group[chosen.argsort(kind="stable")], counts.cumsum()[:-1])
    return {pid: members[index] for pid, index in column.items() if counts[index]}


@dataclass
class _Evaluation:
    """A project's exact share at Δ = 0 and the classes of its supporters."""

    project: int
    classes: list[int]
    counts: list[int]
    money: int  # supporters' money, over the run's denominator
    share: int  # the share is share / (payers * denominator)
    payers: int  # voters who pay the full share (the others pay all they have)
    poor: list[int]  # positions in ``classes`` of the voters who pay all they have
    poor_slope: int  # sum of the upper slopes of the poor voters' money
    upper_slope: int = 0  # slope (over Z) of a line above the share, up to the horizon
    lower_slope: int = 0  # slope (over Z) of a line below the share (its tangent at Δ = 0)


class _Run:
    """One MES run at a given raise, which also proves how many further raises change nothing.

    Money of budget class ``c`` at Δ further raises lies between ``money[c]/Q + low[c]·Δ/Z`` and
    ``money[c]/Q + high[c]·Δ/Z`` (``Q`` the run's denominator, ``Z`` = SLOPE_SCALE); at Δ = 0
    both are the exact money. ``horizon`` starts as the number of raises to vouch for and shrinks
    to what the run can prove.
    """

    def __init__(self, profile: _Profile, raise_count: int, horizon: int):
        self.profile = profile
        self.raise_count = raise_count
        self.horizon = horizon
        self.denominator = 1
        self.denominators = [1]  # the denominator of each epoch; a class's money is over its epoch's
        self.ratios: dict[int, int] = {}
        self.class_of = np.zeros(profile.group_count, dtype=np.int64)
        step = profile.scaled_increment() * SLOPE_SCALE
        self.money = [profile.scaled_voter_budget(raise_count)]
        self.low = [step]
        self.high = [step]
        self.epoch = [0]
        self.alive = set(range(len(profile.ids)))
        # each project's lower bound Line of ρ (from its last evaluation)
        self.bound: list[Line] = [(1, count, 0, 1) for count in profile.supporter_count]
        self.bound_at_zero = [1 / count for count in profile.supporter_count]
        self.fresh: set[int] = set()
        self.selected: list[ProjectId] = list(profile.free)
        self.funded: list[int] = []  # positions in ``profile.ids`` of the projects funded, in order
        self.shares: dict[ProjectId, Amount] = {pid: 0 for pid in profile.free}
        self.cost: Amount = 0

    def solve(self) -> _Run:
        while True:
            self.fresh = set()
            winner = self._cheapest()
            if winner is None:
                return self
            self._vouch_for(winner)
            self._pay(winner)

    def replay(self, funded: Sequence[int]) -> _Run:
        """Fund ``funded`` in that order, the decisions of this very run known from elsewhere."""
        for i in funded:
            winner = self._evaluate(i)
            if winner is None:
                raise AssertionError(f"replaying raise {self.raise_count}: project {i} is unaffordable")
            self._pay(winner)
        return self

    def leftover(self) -> dict[ProjectId, Amount]:
        """Each unfunded supported project's supporters' money at the end of the run."""
        result = {}
        for i, pid in enumerate(self.profile.ids):
            if pid not in self.shares:
                classes, counts = self._class_counts(i)
                total = sum(map(operator.mul, counts, self._current(classes)))
                result[pid] = normalize(Fraction(total, self.denominator * self.profile.scale))
        return result

    # --- choosing the project ---

    def _cheapest(self) -> _Evaluation | None:
        """The affordable project with the smallest ρ (exactly), looking at as few as possible.

        Projects are looked at in the order of their last known ρ, a lower bound of their ρ now
        (money only shrinks during a run); once a bound is above the best ρ found, that project
        cannot win this round and is not evaluated.
        """
        best: _Evaluation | None = None
        best_share = best_scale = 0
        for i in sorted(self.alive, key=self.bound_at_zero.__getitem__):
            if best is not None:
                share, scale, _, _ = self.bound[i]
                if share * best_scale > best_share * scale:
                    continue
            evaluation = self._evaluate(i)
            if evaluation is not None and (best is None or self._beats(evaluation, best)):
                best = evaluation
                best_share, best_scale = evaluation.share, self.bound[i][1]
        return best

    def _beats(self, one: _Evaluation, other: _Evaluation) -> bool:
        left = one.share * other.payers * self.profile.cost[other.project]
        right = other.share * one.payers * self.profile.cost[one.project]
        if left != right:
            return left < right
        return self.profile.rank[one.project] < self.profile.rank[other.project]

    def _evaluate(self, i: int) -> _Evaluation | None:
        """The exact share of project i now, or None (and i dropped) when it is unaffordable."""
        classes, counts = self._class_counts(i)
        values = self._current(classes)
        money = sum(map(operator.mul, counts, values))
        cost = self.profile.cost[i] * self.denominator
        if money < cost:
            self._vouch_unaffordable(classes, counts, money, cost)
            self.alive.discard(i)
            return None
        share, payers, poor = _share(values, counts, cost)
        poor_slope = sum(counts[j] * self.high[classes[j]] for j in poor) if self.horizon else 0
        scaled_cost = self.profile.cost[i]
        self.bound[i] = (
            share,
            payers * self.denominator * scaled_cost,
            -poor_slope,
            payers * SLOPE_SCALE * scaled_cost,
        )
        self.bound_at_zero[i] = share / (payers * self.denominator * scaled_cost)
        self.fresh.add(i)
        return _Evaluation(i, classes, counts, money, share, payers, poor, poor_slope)

    def _current(self, classes: list[int]) -> list[int]:
        """The classes' money over the current denominator (brought up to date lazily)."""
        money, epoch, ratios = self.money, self.epoch, self.ratios
        now = len(self.denominators) - 1
        for c in classes:
            then = epoch[c]
            if then != now:
                ratio = ratios.get(then)
                if ratio is None:
                    ratio = ratios[then] = self.denominator // self.denominators[then]
                money[c] *= ratio
                epoch[c] = now
        return [money[c] for c in classes]

    def _class_counts(self, i: int) -> tuple[list[int], list[int]]:
        counts = np.bincount(self.class_of[self.profile.members[i]], weights=self.profile.weights[i])
        present = np.flatnonzero(counts)
        return present.tolist(), counts[present].astype(np.int64).tolist()

    # --- proving how many raises keep the run's decisions ---

    def _limit(self, raises: int) -> None:
        self.horizon = max(0, min(self.horizon, raises))

    def _vouch_unaffordable(self, classes: list[int], counts: list[int], money: int, cost: int) -> None:
        """Keep the horizon where the project stays unaffordable even with the upper bounds."""
        if self.horizon == 0:
            return
        slope = sum(count * self.high[c] for c, count in zip(classes, counts))
        if slope > 0:
            self._limit(_ceil_div((cost - money) * SLOPE_SCALE, slope * self.denominator) - 1)

    def _vouch_for(self, winner: _Evaluation) -> None:
        """Keep the horizon where the winner stays affordable and cheapest."""
        if self.horizon == 0:
            return
        cost = self.profile.cost[winner.project] * self.denominator
        low_slope = sum(count * self.low[c] for c, count in zip(winner.classes, winner.counts))
        if low_slope < 0:
            self._limit((winner.money - cost) * SLOPE_SCALE // (-low_slope * self.denominator))
        winner.upper_slope = self._share_upper_slope(winner, cost)
        winner.lower_slope = -winner.poor_slope // winner.payers
        scaled_cost = self.profile.cost[winner.project]
        winner_line = (
            winner.share,
            winner.payers * self.denominator * scaled_cost,
            winner.upper_slope,
            SLOPE_SCALE * scaled_cost,
        )
        for i in sorted(self.alive - {winner.project}):
            self._vouch_costlier(i, winner, winner_line)

    def _share_upper_slope(self, winner: _Evaluation, cost: int) -> int:
        """Slope (over Z) of the chord of the winner's share between Δ = 0 and the horizon."""
        horizon = self.horizon
        if horizon == 0:
            return 0
        money = self._current(winner.classes)
        values = [
            value * SLOPE_SCALE + self.low[c] * horizon * self.denominator
            for value, c in zip(money, winner.classes)
        ]
        share_far, payers_far, _ = _share(values, winner.counts, cost * SLOPE_SCALE)
        rise = share_far * winner.payers - winner.share * SLOPE_SCALE * payers_far
        return _ceil_div(rise, payers_far * winner.payers * self.denominator * horizon)

    def _vouch_costlier(self, i: int, winner: _Evaluation, winner_line: Line) -> None:
        winner_wins_ties = self.profile.rank[winner.project] < self.profile.rank[i]
        reach = _reach(self.bound[i], winner_line, self.horizon, winner_wins_ties)
        if reach < self.horizon and i not in self.fresh:
            if self._evaluate(i) is None:
                return
            reach = _reach(self.bound[i], winner_line, self.horizon, winner_wins_ties)
        self._limit(reach)

    # --- paying ---

    def _pay(self, winner: _Evaluation) -> None:
        share = self._common_share(winner)
        pid = self.profile.ids[winner.project]
        self.shares[pid] = normalize(Fraction(share, self.denominator * self.profile.scale))
        self.selected.append(pid)
        self.funded.append(winner.project)
        self.cost += self.profile.election.projects[pid].cost
        self.alive.discard(winner.project)
        money = self._current(winner.classes)
        if self.horizon:
            states = [
                self._state_after_paying(c, value - share, winner) for c, value in zip(winner.classes, money)
            ]
        else:
            states = [(value - share if value > share else 0, 0, 0) for value in money]
        new_class = {state: len(self.money) + index for index, state in enumerate(dict.fromkeys(states))}
        self._add_classes(list(new_class))
        children = np.arange(len(self.money), dtype=np.int64)
        children[winner.classes] = [new_class[state] for state in states]
        members = self.profile.members[winner.project]
        self.class_of[members] = children[self.class_of[members]]

    def _common_share(self, winner: _Evaluation) -> int:
        """Refine the denominator so that the winner's share is a whole number; return it."""
        factor = winner.payers // math.gcd(winner.share, winner.payers)
        if factor > 1:
            self.denominator *= factor
            self.denominators.append(self.denominator)
            self.ratios = {}
        return winner.share * factor // winner.payers

    def _state_after_paying(self, c: int, left: int, winner: _Evaluation) -> tuple[int, int, int]:
        """Money and bound slopes of class c's voters once they paid the share (or all they had).

        ``left`` is their money minus the share; negative when they could not pay it all.
        """
        low = _lower_after_paying(left, self.low[c] - winner.upper_slope)
        high = _upper_after_paying(left, self.high[c] - winner.lower_slope, self.horizon, self.denominator)
        return max(0, left), low, high

    def _add_classes(self, states: list[tuple[int, int, int]]) -> None:
        self.money.extend(money for money, _, _ in states)
        self.low.extend(low for _, low, _ in states)
        self.high.extend(high for _, _, high in states)
        self.epoch.extend([len(self.denominators) - 1] * len(states))


def _lower_after_paying(left: int, slope: int) -> int:
    """Tangent at Δ = 0 of max(0, left + slope·Δ): a lower bound that is exact at Δ = 0."""
    if left > 0:
        return slope
    if left < 0:
        return 0
    return max(0, slope)


def _upper_after_paying(left: int, slope: int, horizon: int, denominator: int) -> int:
    """Chord over [0, horizon] of max(0, y) for y = left/denominator + slope·Δ/Z, rounded up."""
    far = left * SLOPE_SCALE + slope * horizon * denominator  # y(horizon), times Z·denominator
    if left >= 0 and far >= 0:
        return slope
    if left <= 0 and far <= 0:
        return 0
    near = max(0, left) * SLOPE_SCALE
    return _ceil_div(max(0, far) - near, denominator * horizon)


def _share(values: list[int], counts: list[int], cost: int) -> tuple[int, int, list[int]]:
    """Solve sum(count·min(value, t)) = cost for t, given the values can pay it.

    Returns ``(numerator, payers, poor)``: t = numerator / payers, where ``payers`` counts the
    voters with value >= t and ``poor`` lists the positions of the values below t (who pay all
    they have). Voters are taken from the poorest up, as pabutools does.
    """
    payers = sum(counts)
    paid = 0
    order = sorted(range(len(values)), key=values.__getitem__)
    for taken, j in enumerate(order):
        if values[j] * payers >= cost - paid:
            return cost - paid, payers, order[:taken]
        paid += counts[j] * values[j]
        payers -= counts[j]
    raise ValueError("the values cannot pay the cost")


def _reach(bound: Line, winner: Line, horizon: int, ties_ok: bool) -> int:
    """The most raises (up to horizon) for which ``bound`` stays above ``winner`` (both lines).

    Above means strictly, or not below when the winner wins ties.
    """
    a0, b0, c0, d0 = bound
    a1, b1, c1, d1 = winner
    start_bound, start_winner = a0 / b0, a1 / b1
    slope_bound, slope_winner = c0 / d0, c1 / d1
    gap_near = start_bound - start_winner
    gap_far = gap_near + (slope_bound - slope_winner) * horizon
    scale = abs(start_bound) + abs(start_winner) + (abs(slope_bound) + abs(slope_winner)) * horizon
    if gap_near > _MARGIN * scale and gap_far > _MARGIN * scale:
        return horizon
    gap = Fraction(a0, b0) - Fraction(a1, b1)
    slope = Fraction(c0, d0) - Fraction(c1, d1)
    if gap < 0 or (gap == 0 and not ties_ok):
        return -1
    if slope >= 0:
        return horizon
    limit = gap / -slope
    return min(horizon, math.floor(limit) if ties_ok else math.ceil(limit) - 1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --- many raises at once, in floats that carry their own error bounds ---

_EPS = float(np.finfo(np.float64).eps)


def _float_runs(profile: _Profile, raises: Sequence[int]) -> list[list[int] | None]:
    """MES at each of ``raises`` at once, in floats: the projects each run funds, in order.

    Every decision is certified, so a returned sequence is exactly the exact run's: each group's
    money is held as an interval (``low``, ``high``) that contains the exact money, with rounding
    accounted for, and a decision is taken only when it holds for every money in the intervals:

    - a project is dropped when even its supporters' upper money cannot pay it, and stays a
      candidate when even their lower money can; otherwise the raise is given up;
    - its share t is bracketed by ``t_lo < t < t_hi``, each bound checked on the supporters'
      payments ``sum(min(money, t))`` (increasing in t and in the money): at ``t_hi`` the lower
      money pays at least the cost, at ``t_lo`` the upper money pays less;
    - the winner's upper ρ must be below every other candidate's lower ρ (a ρ found in an earlier
      round is a lower bound now: money only shrinks during a run); ties are given up;
    - paying moves the payers' interval to ``[low - t_hi, high - t_lo]`` (floored at 0).

    A raise given up (``None``) is for the caller to run exactly; this happens only at near-ties.
    """
    projects = [
        (members, weights, float(total), float(cost), 2 * (len(members) + 4) * _EPS)
        for members, weights, total, cost in zip(
            profile.members, profile.weights, profile.supporter_count, profile.cost
        )
    ]
    start, step = profile.scaled_voter_budget(raises[0]), profile.scaled_increment()
    budgets = np.array([float(start + step * (r - raises[0])) for r in raises])
    tiny = 2 * _EPS * float(budgets.max())  # bounds one rounding of any money
    low = np.empty((profile.group_count, len(raises)))  # one column per raise still running
    low[:] = budgets * (1 - 2 * _EPS)
    high = np.empty_like(low)
    high[:] = budgets * (1 + 2 * _EPS)
    alive = np.ones((len(raises), len(projects)), dtype=bool)
    # a lower bound of each project's ρ in each run: ρ ≥ 1/supporters (everyone pays the share)
    bound = np.tile([(1 - 4 * _EPS) / total for _, _, total, _, _ in projects], (len(raises), 1))
    rows = np.arange(len(raises))  # the position in ``raises`` of each column still running
    results: list[list[int] | None] = [None] * len(raises)
    funded: list[list[int]] = [[] for _ in raises]
    while len(rows):
        count = len(rows)
        best_rho = np.full(count, np.inf)
        best_high = np.full(count, np.inf)  # upper bound of the best ρ found
        best = np.full(count, -1)
        best_share = np.zeros((2, count))  # its share's bounds
        unsure = np.zeros(count, dtype=bool)
        unseen = alive.copy()
        while True:
            # evaluate, in the runs that need it, the project with the least bound anywhere
            candidates = unseen & (bound < best_high[:, None])
            if not candidates.any():
                break
            project = int(np.where(candidates, bound, np.inf).min(axis=0).argmin())
            runs = candidates[:, project].nonzero()[0]
            unseen[:, project] = False
            members, weights, total, cost, slack = projects[project]
            if len(runs) == count:
                lower, upper = low[members], high[members]
            else:
                lower, upper = low[members[:, None], runs], high[members[:, None], runs]
            affordable = (weights @ lower) * (1 - slack) >= cost
            if not affordable.all():
                unaffordable = (weights @ upper) * (1 + slack) < cost
                alive[runs[unaffordable], project] = False
                unsure[runs[~unaffordable & ~affordable]] = True
                runs, lower, upper = runs[affordable], lower[:, affordable], upper[:, affordable]
                if not len(runs):
                    continue
            share, poor, payers = _float_share(lower, weights, total, cost, bound[runs, project] * cost)
            with np.errstate(divide="ignore", invalid="ignore"):  # no payers: nan, not checked
                room = 2 * (2 * slack * cost + total * tiny) / payers
                spread = weights @ ((upper - lower) * poor)  # what the poor may hold beyond ``lower``
                share_high = share * (1 + slack) + room
                share_low = np.maximum((share - 2 * spread / payers) * (1 - slack) - room, 0)
                checked = ((weights @ np.minimum(lower, share_high)) * (1 - slack) >= cost) & (
                    (weights @ np.minimum(upper, share_low)) * (1 + slack) < cost
                )
            if not checked.all():
                unsure[runs[~checked]] = True
                runs, share = runs[checked], share[checked]
                share_low, share_high = share_low[checked], share_high[checked]
            bound[runs, project] = share_low * ((1 - 4 * _EPS) / cost)
            rho = share / cost
            better = rho < best_rho[runs]
            improved = runs[better]
            best_rho[improved] = rho[better]
            best_high[improved] = share_high[better] * ((1 + 4 * _EPS) / cost)
            best[improved] = project
            best_share[0, improved] = share_low[better]
            best_share[1, improved] = share_high[better]
        found = best >= 0
        rivals = np.where(alive, bound, np.inf)
        rivals[found.nonzero()[0], best[found]] = np.inf
        unsure |= found & (best_high >= rivals.min(axis=1, initial=np.inf))
        going = found & ~unsure
        for column in (~(found | unsure)).nonzero()[0].tolist():
            results[rows[column]] = funded[rows[column]]
        if not going.all():
            rows, alive, bound = rows[going], alive[going], bound[going]
            low, high = low[:, going], high[:, going]
            best, best_share = best[going], best_share[:, going]
        winners = best.tolist()
        for project in set(winners):
            members = projects[project][0]
            paying = best == project
            if paying.all():
                index: tuple = (members,)
                share_low, share_high = best_share
            else:
                columns = paying.nonzero()[0]
                index = (members[:, None], columns)
                share_low, share_high = best_share[:, columns]
            # the lower money pays the upper share, the upper money the lower one; ``tiny`` covers
            # the two roundings of each subtraction
            low[index] = np.maximum(low[index] - (share_high + tiny), 0)
            high[index] = np.maximum(high[index] - (share_low - tiny), 0)
            alive[paying, project] = False
        for row, project in zip(rows.tolist(), winners):
            funded[row].append(project)
    return results


def _float_share(
    money: np.ndarray, weights: np.ndarray, total: float, cost: float, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The share t solving ``weights @ min(money, t) = cost`` in each column (approximately).

    Starting from ``start`` (at most t), each step makes the voters below t pay all they have and
    the others split the rest; t only grows, and stops once the poor stay the same. Returns t, the
    poor (a mask like ``money``) and the payers' weight.
    """
    share, poor_weight = start, -1.0
    with np.errstate(divide="ignore", invalid="ignore"):  # all poor: a nan share, checked out later
        for _ in range(len(weights) + 1):
            poor = money < share
            now = weights @ poor
            if (now == poor_weight).all():
                break
            poor_weight = now
            share = (cost - weights @ (money * poor)) / (total - poor_weight)
    return share, poor, total - poor_weight
