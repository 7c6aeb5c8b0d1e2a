"""Outcome rules: which projects an election funds, and why each one was or was not funded.

Rules (``tally(election, rule)``):

- ``greedy``: projects by score, best first; fund each one that fits in what is left, skip the
  others and go on.
- ``greedy-no-skip``: the same, but stop at the first project that does not fit.
- ``greedy-threshold``: greedy over the projects whose score reaches the threshold (the caller's,
  else META ``min_project_score_threshold``), or, with ``threshold_share``, over the projects named
  on at least that share of the ballots.
- ``mes``: the Method of Equal Shares with cost utilities and add-one completion (pabulib
  ``equalshares/add1``), see :mod:`voting.tally.mes`.
- ``mes+greedy``: ``mes``, then greedy over what is left.
- ``auto``: the rule META ``rule`` names (pabulib names; ``equalshares/add1`` is ``mes``).
  ``equalshares`` without ``/add1`` is MES without completion (``mes-plain``), and a ``/greedy``
  or ``+greedy`` suffix adds the greedy fill.

Score: the sum of the points a project received (one per approval, the points of cumulative
ballots, pabulib's positional points of ordinal ballots). MES ignores points: a project named on a
ballot counts as approved by that voter, with its cost as the voter's utility.

Tie-break (:data:`TIE_BREAK`): projects are ranked by higher score, then lower cost, then their
position in the project list (file order, or the order the app gave). Greedy rules follow this
ranking; MES uses it between projects with exactly the same ρ.

Projects nobody voted for (score 0): pabulib's semantics, the default (``fund_unvoted=True``),
let greedy rules fund them when they fit, as pabutools does; ``voting tally`` keeps that. The
app's own counts pass ``fund_unvoted=False``: such a project is never funded, its reason is
``no_votes``, and the money it would have taken stays for the projects people voted for.

Every comparison that decides an outcome is exact (ints and Fractions).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .amounts import Amount
from .election import Election, ProjectId
from .explain import FUNDED_CODES, reason_text

if TYPE_CHECKING:
    from .mes import MesOutcome

TIE_BREAK = (
    "Projects are ranked by higher score, then lower cost, then their position in the project list; "
    "greedy rules fund in this order, and equal shares uses it between equally cheap projects."
)

RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")
"""The rules the command line offers (``auto`` aside)."""

PLAIN_MES_RULES = ("mes-plain", "mes-plain+greedy")
"""MES without completion, which ``auto`` picks for META ``equalshares`` (also accepted by name)."""

_PABULIB_NAMES = {
    "mes": "equalshares/add1",
    "mes+greedy": "equalshares/add1/greedy",
    "mes-plain": "equalshares",
    "mes-plain+greedy": "equalshares/greedy",
}

_PABULIB_GREEDY = ("greedy", "greedy-no-skip", "greedy-threshold")


class RuleError(ValueError):
    """A rule that cannot be applied: unknown name, or a threshold rule without a threshold."""


@dataclass(frozen=True)
class ProjectOutcome:
    """One project's result: its figures, whether it was funded, and why."""

    id: ProjectId
    score: Amount
    votes: int
    cost: Amount
    selected: bool
    reason_code: str
    reason_args: Mapping[str, Any]
    reason: str


@dataclass(frozen=True)
class TallyResult:
    """The outcome of a rule: funded projects in order of selection, and every project's reason.

    ``projects`` lists every project in ranking order (see :data:`TIE_BREAK`).
    """

    rule: str
    selected: tuple[ProjectId, ...]
    cost: Amount
    budget: Amount
    projects: tuple[ProjectOutcome, ...]
    tie_break: str = TIE_BREAK


@dataclass(frozen=True)
class _Decision:
    code: str
    args: dict[str, Any]


def tally(
    election: Election,
    rule: str = "auto",
    *,
    threshold: Amount | None = None,
    threshold_share: Amount | None = None,
    increment: Amount = 1,
    fund_unvoted: bool = True,
) -> TallyResult:
    """Apply ``rule`` to ``election``.

    ``threshold`` (greedy-threshold) overrides META ``min_project_score_threshold``: a project
    needs a score of at least this much. ``threshold_share`` (greedy-threshold, instead of
    ``threshold``; a fraction between 0 and 1): a project needs to be named on at least this share
    of the ballots. ``increment`` is the per-voter raise of MES's add-one completion, one currency
    unit (pass 100 when money is in fen and the unit is the yuan). ``fund_unvoted=False`` never
    funds a project whose score is 0 (reason ``no_votes``); the default keeps pabulib's semantics.

    :raises RuleError: for an unknown rule, a META rule we cannot follow, greedy-threshold
        without any threshold, or a share outside 0..1.
    """
    name = resolve_rule(election, rule)
    ranking = _ranking(election)
    if name.startswith("mes"):
        order, decisions = _equal_shares(election, ranking, name, increment, fund_unvoted)
    else:
        order, decisions = _greedy_rule(election, ranking, name, threshold, threshold_share, fund_unvoted)
    return _result(election, name, ranking, order, decisions)


def resolve_rule(election: Election, rule: str) -> str:
    """The concrete rule ``rule`` stands for (``auto`` reads META ``rule``).

    :raises RuleError: when the rule is unknown or META names none we can follow.
    """
    if rule != "auto":
        if rule not in RULES + PLAIN_MES_RULES:
            raise RuleError(f"unknown rule '{rule}'; expected auto or one of {', '.join(RULES)}")
        return rule
    meta_rule = election.meta.get("rule", "").strip()
    if meta_rule in _PABULIB_GREEDY:
        return meta_rule
    if meta_rule.startswith("equalshares"):
        return _equal_shares_variant(meta_rule)
    raise RuleError(f"META rule '{meta_rule}' is not a rule this tally can follow; name one instead of auto")


def pabulib_rule_name(rule: str) -> str:
    """The META ``rule`` value pabulib uses for one of our rules (for writing .pb files)."""
    return _PABULIB_NAMES.get(rule, rule)


def _equal_shares_variant(meta_rule: str) -> str:
    options = set(re.split(r"[/+]", meta_rule)[1:])
    if not options <= {"add1", "greedy"}:
        raise RuleError(f"META rule '{meta_rule}' has options this tally does not know")
    name = "mes" if "add1" in options else "mes-plain"
    return name + "+greedy" if "greedy" in options else name


def _ranking(election: Election) -> list[ProjectId]:
    scores, position = election.scores, election.position
    projects = election.projects
    return sorted(projects, key=lambda pid: (-scores[pid], projects[pid].cost, position[pid]))


def _greedy_rule(
    election: Election,
    ranking: list[ProjectId],
    name: str,
    threshold: Amount | None,
    threshold_share: Amount | None,
    fund_unvoted: bool,
) -> tuple[list[ProjectId], dict[ProjectId, _Decision]]:
    share = None
    if name == "greedy-threshold":
        if threshold_share is not None:
            if not 0 <= threshold_share <= 1:
                raise RuleError(f"threshold_share must be between 0 and 1, not {threshold_share}")
            share, threshold = threshold_share, None
        else:
            threshold = election.threshold if threshold is None else threshold
            if threshold is None:
                raise RuleError(
                    "greedy-threshold needs a threshold (META min_project_score_threshold or the caller's)"
                )
    else:
        threshold = None
    return _greedy(election, ranking, election.budget, skip=name != "greedy-no-skip", threshold=threshold,
                   share=share, fund_unvoted=fund_unvoted)


def _greedy(
    election: Election,
    ranking: list[ProjectId],
    budget: Amount,
    *,
    skip: bool = True,
    threshold: Amount | None = None,
    share: Amount | None = None,
    fund_unvoted: bool = True,
    funded_code: str = "funded",
) -> tuple[list[ProjectId], dict[ProjectId, _Decision]]:
    """Fund projects in ranking order while they fit; skip (or stop at) those that do not."""
    order: list[ProjectId] = []
    decisions: dict[ProjectId, _Decision] = {}
    remaining = budget
    stopped_at = None
    voters = len(election.ballots)
    for pid in ranking:
        score, cost = election.scores[pid], election.projects[pid].cost
        if not fund_unvoted and score == 0:
            decisions[pid] = _Decision("no_votes", {"cost": cost})
        elif share is not None and election.votes[pid] < share * voters:
            args = {"votes": election.votes[pid], "voters": voters, "share": share}
            decisions[pid] = _Decision("below_share", args)
        elif threshold is not None and score < threshold:
            decisions[pid] = _Decision("below_threshold", {"score": score, "threshold": threshold})
        elif stopped_at is not None:
            decisions[pid] = _Decision("after_budget_stop", {"score": score, "stopped_at": stopped_at})
        elif cost <= remaining:
            decisions[pid] = _Decision(funded_code, {"score": score, "cost": cost, "remaining": remaining})
            order.append(pid)
            remaining -= cost
        else:
            code = "not_fit" if skip else "budget_stop"
            decisions[pid] = _Decision(code, {"score": score, "cost": cost, "remaining": remaining})
            stopped_at = None if skip else pid
    return order, decisions


def _equal_shares(
    election: Election, ranking: list[ProjectId], name: str, increment: Amount, fund_unvoted: bool
) -> tuple[list[ProjectId], dict[ProjectId, _Decision]]:
    # here, not at the top: equal shares loads numpy, which the greedy rules (and so `voting tally`
    # on a greedy file) do not need; importing it costs more than a small file's whole count
    from .mes import equal_shares

    rank = {pid: index for index, pid in enumerate(ranking)}
    outcome = equal_shares(election, rank, completion=not name.startswith("mes-plain"), increment=increment)
    decisions = {pid: _mes_decision(election, outcome, pid) for pid in ranking}
    order = list(outcome.selected)
    if name.endswith("+greedy"):
        rest = [pid for pid in ranking if pid not in outcome.shares]
        spent = sum(election.projects[pid].cost for pid in order)
        filled, fill_decisions = _greedy(election, rest, election.budget - spent, fund_unvoted=fund_unvoted,
                                         funded_code="fill_funded")
        order += filled
        decisions.update(fill_decisions)
    return order, decisions


def _mes_decision(election: Election, outcome: MesOutcome, pid: ProjectId) -> _Decision:
    cost, supporters = election.projects[pid].cost, election.votes[pid]
    if pid in outcome.shares:
        return _Decision("mes_funded", {"cost": cost, "supporters": supporters, "share": outcome.shares[pid]})
    if pid in outcome.leftover:
        money = outcome.leftover[pid]
        args = {"cost": cost, "supporters": supporters, "supporters_money": money}
        return _Decision("mes_not_affordable", args)
    return _Decision("no_votes", {"cost": cost})


def _result(
    election: Election,
    name: str,
    ranking: list[ProjectId],
    order: list[ProjectId],
    decisions: Mapping[ProjectId, _Decision],
) -> TallyResult:
    projects = tuple(
        ProjectOutcome(
            id=pid,
            score=election.scores[pid],
            votes=election.votes[pid],
            cost=election.projects[pid].cost,
            selected=decisions[pid].code in FUNDED_CODES,
            reason_code=decisions[pid].code,
            reason_args=decisions[pid].args,
            reason=reason_text(decisions[pid].code, decisions[pid].args),
        )
        for pid in ranking
    )
    return TallyResult(
        rule=name,
        selected=tuple(order),
        cost=sum((election.projects[pid].cost for pid in order), 0),
        budget=election.budget,
        projects=projects,
    )
