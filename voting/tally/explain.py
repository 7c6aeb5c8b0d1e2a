"""Why each project was or was not funded: stable reason codes, plain arguments, English text.

The codes and their arguments are an interface: the app translates them (into Chinese) from the
code and the arguments, so codes never change meaning and arguments stay plain values (exact
numbers as int or Fraction, project ids, counts). The English text here is for the command line,
logs and tests.

=====================  =================================  ========================================
code                   arguments                          meaning
=====================  =================================  ========================================
funded                 score, cost, remaining             greedy funded it; ``remaining`` is what
                                                          was left before it
not_fit                score, cost, remaining             greedy skipped it: remaining < cost
below_threshold        score, threshold                   its score is below the threshold
budget_stop            score, cost, remaining             greedy-no-skip stopped here: remaining <
                                                          cost
after_budget_stop      score, stopped_at                  greedy-no-skip had already stopped at
                                                          project ``stopped_at``
mes_funded             cost, supporters, share            equal shares funded it; each supporter
                                                          paid at most ``share``
mes_not_affordable     cost, supporters, supporters_money equal shares: its supporters had only
                                                          ``supporters_money`` left (< cost)
below_share            votes, voters, share               greedy-threshold with a share of voters:
                                                          named on ``votes`` of ``voters`` ballots,
                                                          fewer than ``share`` (a fraction) of them
no_votes               cost                               nobody voted for it (equal shares; greedy
                                                          rules when the caller does not fund
                                                          unvoted projects)
fill_funded            score, cost, remaining             the greedy fill after equal shares
                                                          funded it
=====================  =================================  ========================================
"""
from __future__ import annotations

from collections.abc import Mapping

from .amounts import describe_amount

FUNDED_CODES = frozenset({"funded", "mes_funded", "fill_funded"})

_TEXTS = {
    "funded": "funded: cost {cost} fits in the remaining {remaining} (score {score})",
    "not_fit": "not funded: remaining {remaining} < cost {cost}",
    "below_threshold": "not funded: score {score} is below the threshold {threshold}",
    "budget_stop": "not funded: remaining {remaining} < cost {cost}; counting stops here",
    "after_budget_stop": "not funded: counting stopped at project {stopped_at}, which did not fit",
    "mes_funded": (
        "funded by equal shares: its {supporters} supporters paid at most {share} each (cost {cost})"
    ),
    "mes_not_affordable": "not funded: its {supporters} supporters had {supporters_money} left < cost {cost}",
    "below_share": "not funded: named on {votes} of {voters} ballots, below the share {share}",
    "no_votes": "not funded: no votes",
    "fill_funded": "funded in the greedy fill: cost {cost} fits in the remaining {remaining} (score {score})",
}



def reason_text(code: str, args: Mapping[str, object]) -> str:
    """The English sentence for a reason code and its arguments."""
    shown = {key: _shown(key, value) for key, value in args.items()}
    return _TEXTS[code].format(**shown)


def _shown(key: str, value: object) -> str:
    if key == "stopped_at":
        return str(value)
    if key in ("supporters", "votes", "voters"):
        return f"{value:,}"
    return describe_amount(value)
