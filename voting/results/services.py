"""Counting a closed vote with the cycle's rule, storing the result, and explaining it; the public
notice (公示) of the result, with residents' objections and the staff's answers.

The result is computed once, the first time anyone needs it after voting closed (staff closing
early, or the first visitor after the close time): no scheduler. It counts every resident's
current ballot, whatever the channel. From that moment (`Cycle.results_published_at`) the result
stands for the cycle's notice period (`Cycle.notice_days`): residents of the community may object,
the staff answer in public, and implementation starts only after the period with every objection
answered (`require_notice_over`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

from flask_babel import gettext as _, ngettext
from flask import current_app
from sqlalchemy import and_, delete, func, select
from sqlalchemy.orm import selectinload

from ..accounts.policy import require_objection_answerer, require_objector
from ..audit.services import log_action
from ..ballots.models import Ballot, BallotChain, IdempotentAnswer, RollEntry
from ..ballots.casting import lock_chain_head
from ..cycles.electorate import electorate_size
from ..cycles.models import Cycle
from ..enums import PROGRESS, Phase, ProjectStatus
from ..errors import Conflict, NotFound
from ..format import local_time
from ..money import yuan_grouped
from ..proposals.ballot import ballot_projects
from ..proposals.models import Project
from ..tally import Election, Project as TallyProject, tally
from ..validation import text_value
from .models import CycleResult, Objection

AFTER_VOTING = ("results", "implementation", "closed")
MAX_OBJECTION_LENGTH = 2000  # characters of an objection, or of an answer
VOTE_TYPES = {"approval": "approval", "knapsack": "knapsack", "cumulative": "cumulative", "choose_one": "choose-1"}
FEN_PER_YUAN = 100


def cycle_election(session, cycle: Cycle) -> Election:
    """The cycle's vote as a tally election: costs and fund in fen, every current ballot."""
    projects = [TallyProject(p.id, p.ballot_cost_fen, name=p.title, category=p.category)
                for p in ballot_projects(session, cycle)]
    ballots = session.scalars(
        select(Ballot).where(Ballot.cycle_id == cycle.id, Ballot.is_current)
        .options(selectinload(Ballot.choices)).order_by(Ballot.seq)
    )
    if cycle.method == "cumulative":
        votes = [{c.project_id: c.points for c in b.choices} for b in ballots]
    else:
        votes = [[c.project_id for c in b.choices] for b in ballots]
    return Election.from_values(projects, cycle.fund_fen, votes, vote_type=VOTE_TYPES[cycle.method],
                                threshold=cycle.threshold)


def count_votes(election: Election, rule: str, threshold: int | None, threshold_percent: int | None = None,
                fund_unvoted: bool = False):
    """Apply the rule as the service counts: add-one raises go one yuan per voter (money is in fen),
    a threshold may be a share of voters (percent), and a project nobody voted for is never funded
    (`fund_unvoted=True` only to recount a result published before that guard)."""
    share = None if threshold_percent is None else Fraction(threshold_percent, 100)
    return tally(election, rule, threshold=threshold, threshold_share=share, increment=FEN_PER_YUAN,
                 fund_unvoted=fund_unvoted)


def below_min_turnout(cycle: Cycle, ballots: int, eligible: int) -> bool:
    """Whether the turnout is below the cycle's minimum (then nothing is funded). With nobody in the
    electorate, any minimum is missed."""
    minimum = cycle.min_turnout_percent
    return minimum is not None and (eligible == 0 or ballots * 100 < minimum * eligible)


@dataclass(frozen=True)
class Count:
    """What the cycle's rule funds with the current ballots: the stored result's figures."""

    rule: str
    tie_break: str
    ballots: int
    eligible: int
    below_min_turnout: bool
    outcomes: list[dict]  # `_outcome_json` rows in ranking order
    selected: list[int]


def count_cycle(session, cycle: Cycle) -> Count:
    """Count the cycle's current ballots with its rules; store nothing (the result and the preview of
    an early close both come from here). Below the minimum turnout every project is not funded, with
    the reason `low_turnout`."""
    election = cycle_election(session, cycle)
    ballots, eligible = len(election.ballots), _eligible(session, cycle)
    outcome = count_votes(election, cycle.outcome_rule, cycle.threshold, cycle.threshold_percent)
    rows = [_outcome_json(p) for p in outcome.projects]
    selected = list(outcome.selected)
    below = below_min_turnout(cycle, ballots, eligible)
    if below:
        args = {"voted": ballots, "eligible": eligible, "minimum": cycle.min_turnout_percent}
        rows = [dict(row, selected=False, reason_code="low_turnout", reason_args=args) for row in rows]
        selected = []
    return Count(outcome.rule, outcome.tie_break, ballots, eligible, below, rows, selected)


def ensure_result(session, cycle: Cycle, now) -> CycleResult:
    """The cycle's result, computed and stored the first time it is needed after the close.

    :raises Conflict: results_not_ready while voting has not closed.
    """
    if cycle.current_phase(now) not in AFTER_VOTING:
        raise Conflict(_("The results are published when voting closes."), "results_not_ready")
    stored = session.get(CycleResult, cycle.id)
    if stored is not None:
        return stored
    if counted_offline(session, cycle):
        # Nothing to recount, and the recorded figures must not be overwritten by a count of zero ballots.
        raise Conflict(_("This year's votes were counted on paper before online voting; the archive "
                         "shows each project's recorded votes."), "results_recorded_offline")
    # Hold the chain head, as every cast does: a ballot still being recorded is committed first and
    # counted, and a cast that comes after reads that voting has closed (`cast_ballot`).
    chain_seq, chain_head = lock_chain_head(session, cycle.id)
    if (stored := session.get(CycleResult, cycle.id)) is not None:  # counted while we waited
        return stored
    _check_one_ballot_per_voter(session, cycle)
    # The answers kept for retried casts go with the vote (they expire at the close anyway).
    session.execute(delete(IdempotentAnswer).where(IdempotentAnswer.cycle_id == cycle.id))
    count = count_cycle(session, cycle)
    result = CycleResult(
        cycle_id=cycle.id, rule=count.rule, ballots_counted=count.ballots,
        eligible_voters=count.eligible, computed_at=now, tie_break=count.tie_break,
        chain_seq=chain_seq, chain_head=chain_head,
        outcomes=json.dumps(count.outcomes), selected=json.dumps(count.selected),
    )
    session.add(result)
    by_id = {p.id: p for p in ballot_projects(session, cycle)}
    for project in count.outcomes:
        row = by_id[project["id"]]
        row.votes = project["votes"]
        if row.status == ProjectStatus.ON_BALLOT:
            row.status = "funded" if project["selected"] else "not_funded"
    if cycle.phase == Phase.VOTING:
        cycle.phase = "results"
    cycle.results_published_at = cycle.results_published_at or now
    session.flush()
    return result


def counted_offline(session, cycle: Cycle) -> bool:
    """Whether the cycle was counted before online voting: no ballot recorded in this system, and
    vote figures entered for its projects (a paper tally). It has no ballot record to recount."""
    return bool(session.scalar(select(counted_offline_clause(cycle.id))))


def counted_offline_clause(cycle_id):
    """`counted_offline` as a SQL condition on a cycle id (a value or a column)."""
    chain = select(BallotChain.cycle_id).where(BallotChain.cycle_id == cycle_id).correlate_except(BallotChain)
    votes = (select(Project.id).where(Project.cycle_id == cycle_id, Project.votes.is_not(None))
             .correlate_except(Project))
    return and_(~chain.exists(), votes.exists())


def _eligible(session, cycle: Cycle) -> int:
    return electorate_size(session, cycle)


def _check_one_ballot_per_voter(session, cycle: Cycle) -> None:
    """:raises Conflict: count_refused when the current ballots are not as many as the voters on the
    roll (a ballot recorded under another key, or a database changed by hand): nothing is published."""
    ballots = session.scalar(select(func.count()).select_from(Ballot)
                             .where(Ballot.cycle_id == cycle.id, Ballot.is_current)) or 0
    voters = session.scalar(select(func.count()).select_from(RollEntry)
                            .where(RollEntry.cycle_id == cycle.id, RollEntry.has_voted)) or 0
    if ballots != voters:
        current_app.logger.error("cycle %s: %s current ballots against %s voters on the roll; count refused",
                                 cycle.id, ballots, voters)
        raise Conflict(_("The count is not published: the record holds %(ballots)d current ballots but the "
                         "voter roll lists %(voters)d voters. Each resident has one ballot, so the district "
                         "must find out why before anything is counted.", ballots=ballots, voters=voters),
                       "count_refused")


def _outcome_json(project) -> dict:
    return {"id": project.id, "votes": project.votes, "score": _plain(project.score), "cost_fen": int(project.cost),
            "selected": project.selected, "reason_code": project.reason_code,
            "reason_args": {k: _plain(v) for k, v in project.reason_args.items()}}


def _plain(value):
    """Exact numbers as JSON: ints stay ints, fractions become [numerator, denominator]."""
    if isinstance(value, Fraction):
        return value.numerator if value.denominator == 1 else [value.numerator, value.denominator]
    return value


def outcomes(result: CycleResult) -> list[dict]:
    return json.loads(result.outcomes)


def selected_ids(result: CycleResult) -> list[int]:
    return json.loads(result.selected)


def funded_unvoted(result: CycleResult) -> bool:
    """Whether the stored result funds a project nobody voted for: counted before that was refused.
    (Otherwise the count with the guard gives the same result, so the record says `never_funded`.)"""
    return any(o["selected"] and o["score"] == 0 for o in outcomes(result))


def _money(value) -> str:
    """A fen amount from the stored arguments, in yuan for reading."""
    if isinstance(value, list):
        value = Fraction(*value)
    return "¥" + yuan_grouped(round(value))


def _count(value) -> str:
    if isinstance(value, list):
        value = Fraction(*value)
    return f"{value:,}" if isinstance(value, int) else f"{float(value):,.2f}"


def _percent(value) -> str:
    """A share from the stored arguments (a fraction of 1) as a percentage."""
    share = Fraction(*value) if isinstance(value, list) else Fraction(value)
    percent = share * 100
    return f"{percent.numerator}%" if percent.denominator == 1 else f"{float(percent):.1f}%"


def reason_message(code: str, args: dict, titles: dict) -> str:
    """Why a project was or was not funded, in the reader's language, with the figures."""
    money = {k: _money(args[k]) for k in ("cost", "remaining", "share", "supporters_money") if k in args}
    counts = {k: _count(args[k]) for k in ("score", "threshold", "supporters", "votes", "voters", "voted", "eligible")
              if k in args}
    texts = {
        "funded": lambda: _("Funded: its cost %(cost)s fitted in the %(remaining)s left.", **money),
        "fill_funded": lambda: _("Funded when the rest was filled: its cost %(cost)s fitted in the %(remaining)s left.",
                                 **money),
        "mes_funded": lambda: _("Funded by equal shares: its %(supporters)s supporters paid at most %(share)s each.",
                                **money, **counts),
        "not_fit": lambda: _("Not funded: %(remaining)s left < cost %(cost)s.", **money),
        "budget_stop": lambda: _("Not funded: %(remaining)s left < cost %(cost)s; the count stops here.", **money),
        "after_budget_stop": lambda: _("Not funded: the count stopped at “%(title)s”, which did not fit.",
                                       title=titles.get(args.get("stopped_at"), args.get("stopped_at"))),
        "below_threshold": lambda: _("Not funded: %(score)s votes, below the threshold of %(threshold)s.", **counts),
        "mes_not_affordable": lambda: _("Not funded: its %(supporters)s supporters had only %(supporters_money)s "
                                        "left < cost %(cost)s.", **money, **counts),
        "below_share": lambda: _("Not funded: chosen by %(votes)s of %(voters)s voters, below the threshold of "
                                 "%(share)s of voters.", share=_percent(args["share"]), **counts),
        "no_votes": lambda: _("Not funded: no votes."),
        "low_turnout": lambda: _("Not funded: %(voted)s of %(eligible)s voted, below the minimum turnout of "
                                 "%(minimum)d%%, so nothing is funded.", minimum=args["minimum"], **counts),
    }
    return texts[code]()


@dataclass(frozen=True)
class ResultView:
    """A published result as the page, the printed notice and the API show it: the projects in
    ranking order with votes, cost and reason, the funded ids, the turnout and what the funded cost."""

    cycle: Cycle
    result: CycleResult
    rows: list[dict]
    selected: list[int]
    turnout: float

    @property
    def funded_cost(self) -> int:
        return sum(r["cost_fen"] for r in self.rows if r["selected"])

    @property
    def below_min_turnout(self) -> bool:
        """Nothing was funded because too few voted (the cycle's minimum turnout), as the count stored it."""
        return any(row["reason_code"] == "low_turnout" for row in self.rows)

    @property
    def max_votes(self) -> int:
        return max([r["votes"] for r in self.rows] + [1])


def published_result(session, cycle: Cycle, now) -> ResultView:
    """The cycle's result, counted first if nobody looked since voting closed (`ensure_result`).

    :raises Conflict: `results_not_ready` before voting closed; `count_refused` (see `ensure_result`).
    """
    result = ensure_result(session, cycle, now)
    rows = explained(session, cycle, outcomes(result))
    turnout = result.ballots_counted / result.eligible_voters if result.eligible_voters else 0.0
    return ResultView(cycle, result, rows, selected_ids(result), turnout)


@dataclass(frozen=True)
class RecordedResult:
    """A year counted before online voting (no ballot in this system): each project's fate and the
    votes the community's archive recorded for it, as the page and the API show them. Nothing here
    was counted by the service; there is no ballot record, turnout or chain to check it against."""

    cycle: Cycle
    # {"id", "votes" (None when not recorded), "cost_fen", "selected", "reason_code", "reason", "project"}
    rows: list[dict]
    selected: list[int]

    @property
    def funded_cost(self) -> int:
        return sum(r["cost_fen"] for r in self.rows if r["selected"])

    @property
    def max_votes(self) -> int:
        return max([r["votes"] or 0 for r in self.rows] + [1])


def recorded_result(session, cycle: Cycle) -> RecordedResult:
    """The recorded result of a year counted before online voting: the funded projects (they went on to
    be built) and the others, most recorded votes first."""
    projects = sorted(ballot_projects(session, cycle), key=lambda p: (-(p.votes or 0), p.id))
    rows = []
    for project in projects:
        funded = project.status in PROGRESS
        rows.append({"id": project.id, "votes": project.votes, "cost_fen": project.ballot_cost_fen or 0,
                     "selected": funded, "reason_code": "recorded_funded" if funded else "recorded_not_funded",
                     "reason": (_("Funded, as the community's archive records.") if funded
                                else _("Not funded, as the community's archive records.")),
                     "project": project})
    return RecordedResult(cycle, rows, [r["id"] for r in rows if r["selected"]])


def shown_result(session, cycle: Cycle, now) -> ResultView | RecordedResult:
    """What the results page and the API show: the published result (`published_result`), or, for a
    year counted before online voting, its recorded result (`recorded_result`).

    :raises Conflict: `results_not_ready` before voting closed; `count_refused` (see `ensure_result`).
    """
    if (cycle.current_phase(now) in AFTER_VOTING and session.get(CycleResult, cycle.id) is None
            and counted_offline(session, cycle)):
        return recorded_result(session, cycle)
    return published_result(session, cycle, now)


def tie_rule(cycle: Cycle, rule: str) -> str:
    """How ties were broken, in the words of the cycle's ballot: votes, or points on cumulative ballots."""
    if cycle.method == "cumulative":
        text = _("Projects are ranked by their points; between equal points, the lower cost comes first, then "
                 "the order on the ballot.")
    else:
        text = _("Projects are ranked by their votes; between equal votes, the lower cost comes first, then "
                 "the order on the ballot.")
    if rule.startswith("mes"):
        text += " " + _("Equal shares uses the same order between projects that cost their supporters the same.")
    return text


def explained(session, cycle: Cycle, rows: list[dict]) -> list[dict]:
    """Outcome rows (stored or from `count_cycle`) with their project and reason to show."""
    projects = {p.id: p for p in ballot_projects(session, cycle)}
    titles = {p.id: p.title for p in projects.values()}
    return [dict(o, project=projects[o["id"]], reason=reason_message(o["reason_code"], o["reason_args"], titles))
            for o in rows]


# --- The public notice (公示): objections and answers ------------------------------------------------


@dataclass(frozen=True)
class NoticePeriod:
    """How long a published result stands for objections: from its publication, `days` days."""

    published_at: datetime | None
    days: int

    @property
    def ends_at(self) -> datetime | None:
        return self.published_at + timedelta(days=self.days) if self.published_at else None

    def is_open(self, now: datetime) -> bool:
        """Whether residents may object now."""
        return self.published_at is not None and self.published_at <= now < self.ends_at

    def is_over(self, now: datetime) -> bool:
        return self.published_at is not None and now >= self.ends_at


def notice_period(cycle: Cycle) -> NoticePeriod:
    """The cycle's notice period (no start before the result is published)."""
    return NoticePeriod(cycle.results_published_at, cycle.notice_days)


def cycle_objections(session, cycle: Cycle) -> list[Objection]:
    """The objections to the cycle's result, oldest first, with their answers (all public)."""
    return list(session.scalars(select(Objection).where(Objection.cycle_id == cycle.id).order_by(Objection.id)))


def unanswered_objections(session, cycle: Cycle) -> int:
    return session.scalar(select(func.count()).select_from(Objection)
                          .where(Objection.cycle_id == cycle.id, Objection.answer.is_(None))) or 0


def file_objection(session, user, cycle: Cycle, text, now: datetime) -> Objection:
    """A resident of the community objects to the published result during its notice period.

    :raises Forbidden: `not_a_resident_here` unless an active resident of the community.
    :raises InvalidField: `missing_text`, `not_text`, `too_long` (more than MAX_OBJECTION_LENGTH).
    :raises Conflict: `results_not_ready` before voting closed; `notice_period_over` once the notice
        period has ended (or implementation has started).
    """
    require_objector(user, cycle.community_id)
    text = text_value(text, "text", _("The objection"), max_length=MAX_OBJECTION_LENGTH)
    ensure_result(session, cycle, now)  # the period starts when the result is published
    period = notice_period(cycle)
    if cycle.current_phase(now) != Phase.RESULTS or not period.is_open(now):
        raise Conflict(_("The public notice of this result ended on %(end)s: objections are no longer taken.",
                         end=local_time(period.ends_at, "short")), "notice_period_over")
    objection = Objection(cycle_id=cycle.id, filed_by_id=user.id, text=text, created_at=now)
    session.add(objection)
    session.flush()
    log_action(session, user, "results.objection", cycle.community, cycle=cycle.id, objection=objection.id,
               text=text)
    return objection


def get_objection(session, objection_id: int, *, for_update: bool = False) -> Objection:
    """:raises NotFound: `unknown_objection`."""
    objection = session.get(Objection, objection_id, with_for_update=for_update)
    if objection is None:
        raise NotFound(_("There is no objection %(id)s.", id=objection_id), "unknown_objection")
    return objection


def answer_objection(session, user, objection_id: int, text, now: datetime) -> Objection:
    """The community's staff answer an objection in public, once.

    :raises NotFound: `unknown_objection`. :raises Forbidden: unless staff of the community.
    :raises InvalidField: `missing_text`, `not_text`, `too_long`.
    :raises Conflict: `already_answered`.
    """
    objection = get_objection(session, objection_id, for_update=True)  # two answers at once: one waits
    cycle = session.get(Cycle, objection.cycle_id)
    require_objection_answerer(user, cycle.community_id)
    if objection.is_answered:
        raise Conflict(_("This objection has been answered already; the answer is public and stays as it is."),
                       "already_answered")
    objection.answer = text_value(text, "text", _("The answer"), max_length=MAX_OBJECTION_LENGTH)
    objection.answered_at, objection.answered_by_id = now, user.id
    session.flush()
    log_action(session, user, "results.objection_answer", cycle.community, cycle=cycle.id,
               objection=objection.id, text=objection.answer)
    return objection


def require_notice_over(session, cycle: Cycle, now: datetime) -> None:
    """Implementation starts only after the notice period, with every objection answered.

    :raises Conflict: `notice_period` before the period has ended; `objections_unanswered` while an
        objection awaits its answer.
    """
    period = notice_period(cycle)
    if not period.is_over(now):
        raise Conflict(_("The result is on public notice until %(end)s: implementation can start after that, "
                         "once every objection is answered.", end=local_time(period.ends_at, "short")),
                       "notice_period")
    if waiting := unanswered_objections(session, cycle):
        raise Conflict(ngettext("%(num)d objection to the result awaits its public answer: answer it before "
                                "implementation starts.",
                                "%(num)d objections to the result await their public answers: answer them "
                                "before implementation starts.", waiting), "objections_unanswered")
