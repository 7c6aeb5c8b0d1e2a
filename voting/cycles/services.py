"""Reading and running a community's yearly cycle: opening it, its voting window and rules, and
moving it through its phases (only forward, one step at a time)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import gettext as _, lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ..accounts.policy import require_cycle_opener, require_fund_setter, require_oversight, require_staff_of
from ..audit.services import log_action
from ..ballots.casting import lock_chain_head
from ..ballots.models import RollEntry
from ..database import utcnow
from ..enums import Phase
from ..errors import Conflict, NotFound
from ..geography.models import Community
from ..money import MoneyError, parse_yuan
from ..proposals.models import Project
from ..results.services import Count, count_cycle, ensure_result, require_notice_over
from ..tracking.closing import require_year_settled
from .electorate import added_after_opening, electorate_size
from .models import DEFAULT_FUND_FEN, METHODS, OUTCOME_RULES, PHASES, VOTERS, Cycle
from .models import DEFAULT_NOTICE_DAYS, MAX_NOTICE_DAYS, MIN_NOTICE_DAYS
from ..validation import InvalidField, int_value, text_value

NEXT_PHASE = dict(zip(PHASES, PHASES[1:]))
FIRST_YEAR = 2019  # the livelihood fund began in 2019
MAX_FUND_FEN = 10_000_000 * 100
MAX_CHOICES = 50
MAX_POINTS = 1000
MAX_THRESHOLD = 1_000_000
REASON_LENGTH = 500
RULE_FIELDS = ("method", "min_choices", "max_choices", "points", "threshold", "outcome_rule", "voters",
               "threshold_percent", "min_turnout_percent", "notice_days")


def get_cycle(session, cycle_id: int) -> Cycle:
    """:raises NotFound: when there is no such cycle."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(_("There is no cycle %(id)s.", id=cycle_id), "unknown_cycle")
    return cycle


def cycle_for_staff(session, user, cycle_id: int) -> Cycle:
    """The cycle, for the staff of its community to run.

    :raises NotFound: when there is no such cycle. :raises Forbidden: unless staff of its community.
    """
    cycle = get_cycle(session, cycle_id)
    require_staff_of(user, cycle.community_id)
    return cycle


def cycle_to_oversee(session, user, cycle_id: int) -> Cycle:
    """The cycle, for the staff of its community or the district admin to see in full.

    :raises NotFound: when there is no such cycle. :raises Forbidden: for anyone else.
    """
    cycle = get_cycle(session, cycle_id)
    require_oversight(user, cycle.community_id)
    return cycle


def log_staff_action(session, user, action: str, community, **detail) -> None:
    """Record a staff or admin action in the hash-chained action log auditors download."""
    log_action(session, user, action, community, **detail)


def open_cycle(session, user, community: Community, year, fund=None, now: datetime | None = None) -> Cycle:
    """Open the community's cycle for `year` in phase collection, with last year's rules.

    :raises Forbidden: unless staff of the community or the district admin; a fund from staff.
    :raises InvalidField: `out_of_range` for a year that makes no sense, or a bad fund.
    :raises Conflict: `cycle_exists` for a year already opened, `cycle_in_progress` while another
        cycle of the community has not reached its results.
    """
    now = now or utcnow()
    require_cycle_opener(user, community.id)
    year = int_value(year, "year", _("The year"), minimum=FIRST_YEAR, maximum=now.year + 1)
    if fund is not None:
        require_fund_setter(user)
    fund_fen = DEFAULT_FUND_FEN if fund is None else _fund_value(fund)
    cycles = list(session.scalars(
        select(Cycle).where(Cycle.community_id == community.id).order_by(Cycle.year)
    ))
    if any(c.year == year for c in cycles):
        raise Conflict(_("The %(year)d cycle of this community is already open.", year=year),
                       "cycle_exists")
    if cycles and year < cycles[-1].year:
        raise InvalidField(
            "year", _("Cycles are opened in order: the latest is %(year)d.", year=cycles[-1].year),
            "out_of_range",
        )
    running = [c for c in cycles if c.current_phase(now) in (Phase.COLLECTION, Phase.REVIEW, Phase.VOTING)]
    if running:
        raise Conflict(
            _("The %(year)d cycle is still running (%(phase)s); open the next one once its results are out.",
              year=running[-1].year, phase=PHASE_NAMES[running[-1].current_phase(now)]), "cycle_in_progress",
        )
    rules = {field: getattr(cycles[-1], field) for field in RULE_FIELDS} if cycles else {}
    cycle = Cycle(community_id=community.id, year=year, fund_fen=fund_fen, phase=Phase.COLLECTION, created_at=now)
    exists = Conflict(_("The %(year)d cycle of this community is already open.", year=year), "cycle_exists")
    try:
        with session.begin_nested():
            session.add(cycle)
            session.flush()
    except IntegrityError:
        raise exists from None
    for field, value in rules.items():  # set after the insert: a None would take the column's default
        setattr(cycle, field, value)
    session.flush()
    log_staff_action(session, user, "cycle.open", community, cycle=cycle.id, year=year, fund=fund_fen)
    return cycle


def next_cycle_year(session, community: Community, now: datetime | None = None) -> int:
    """The year to offer when opening the community's next cycle: after its latest, else this year."""
    latest = session.scalar(select(func.max(Cycle.year)).where(Cycle.community_id == community.id))
    return latest + 1 if latest else (now or utcnow()).year


def _fund_value(value) -> int:
    """:raises InvalidField: unless an amount of yuan above zero and at most MAX_FUND_FEN."""
    try:
        fen = parse_yuan(value)
    except MoneyError:
        fen = None
    if fen is None or not 0 < fen <= MAX_FUND_FEN:
        most = f"{MAX_FUND_FEN // 100:,}"
        raise InvalidField(
            "fund", _("The fund must be an amount of yuan above zero and at most %(max)s.", max=most), "bad_amount",
        )
    return fen


PHASE_NAMES = {
    "collection": _l("collecting proposals"),
    "review": _l("under review"),
    "voting": _l("voting"),
    "results": _l("results"),
    "implementation": _l("implementation"),
    "closed": _l("closed"),
}


def _refuse_after_opening(cycle: Cycle, now: datetime, code: str, what: str) -> None:
    if cycle.current_phase(now) not in (Phase.COLLECTION, Phase.REVIEW):
        raise Conflict(_("Voting has opened: %(what)s can no longer change.", what=what), code)


def set_window(session, user, cycle: Cycle, opens_at: datetime, closes_at: datetime,
               now: datetime | None = None) -> Cycle:
    """Set when voting opens and closes (naive UTC).

    :raises Forbidden: unless staff of the community.
    :raises Conflict: `voting_started` once voting has opened.
    :raises InvalidField: `bad_window` when it closes before it opens or in the past.
    """
    now = now or utcnow()
    require_staff_of(user, cycle.community_id)
    _refuse_after_opening(cycle, now, "voting_started", _("the voting window"))
    if closes_at <= opens_at:
        raise InvalidField("voting_closes_at", _("Voting must close after it opens."), "bad_window")
    if closes_at <= now:
        raise InvalidField("voting_closes_at", _("The closing time has already passed."), "bad_window")
    cycle.voting_opens_at, cycle.voting_closes_at = opens_at, closes_at
    if cycle.phase == Phase.VOTING:  # scheduled: the vote opens at the new time
        _start_no_earlier_than_now(cycle, now)
    session.flush()
    log_staff_action(session, user, "cycle.window", cycle.community, cycle=cycle.id,
                     opens_at=cycle.voting_opens_at.isoformat() + "Z",
                     closes_at=cycle.voting_closes_at.isoformat() + "Z")
    return cycle


def set_rules(session, user, cycle: Cycle, values: dict, now: datetime | None = None) -> Cycle:
    """Set the voting rules from raw values (a form or a JSON body).

    :raises Forbidden: unless staff of the community.
    :raises Conflict: `rules_frozen` once voting has opened or a ballot has been cast.
    :raises InvalidField: `bad_rules` (and the codes of `int_value`) for inconsistent rules.
    """
    now = now or utcnow()
    require_staff_of(user, cycle.community_id)
    if cycle.rules_frozen_at is not None:
        raise Conflict(_("The rules are frozen: a ballot has been cast."), "rules_frozen")
    _refuse_after_opening(cycle, now, "rules_frozen", _("the voting rules"))
    rules = clean_rules(values)
    for field, value in rules.items():
        setattr(cycle, field, value)
    if cycle.phase == Phase.VOTING:
        require_ready_to_vote(session, cycle, now)
    session.flush()
    log_staff_action(session, user, "cycle.rules", cycle.community, cycle=cycle.id, **rules)
    return cycle


def clean_rules(values: dict) -> dict:
    """Consistent rules from raw values.

    :raises InvalidField: for an unknown method or rule, limits out of order, points other than
        for cumulative voting, or a threshold other than for greedy-threshold (which needs either
        a number of votes, `threshold`, or a share of the voters, `threshold_percent`; not both);
        a minimum turnout (`min_turnout_percent`) outside 1–100.
    """
    method, rule = values.get("method"), values.get("outcome_rule")
    if method not in METHODS:
        raise InvalidField("method", _("Choose a voting method: %(names)s.", names=", ".join(METHODS)),
                           "unknown_method")
    if rule not in OUTCOME_RULES:
        raise InvalidField("outcome_rule", _("Choose an outcome rule: %(names)s.",
                                             names=", ".join(OUTCOME_RULES)), "unknown_outcome_rule")
    voters = values.get("voters") or "adults"
    if voters not in VOTERS:
        raise InvalidField("voters", _("Choose who votes: %(names)s.", names=", ".join(VOTERS)), "unknown_voters")
    min_choices = int_value(values.get("min_choices"), "min_choices", _("The minimum number of choices"),
                            minimum=0, maximum=MAX_CHOICES, required=False)
    max_choices = int_value(values.get("max_choices"), "max_choices", _("The maximum number of choices"),
                            minimum=1, maximum=MAX_CHOICES, required=False)
    points = int_value(values.get("points"), "points", _("The points"), minimum=1, maximum=MAX_POINTS,
                       required=False)
    threshold = int_value(values.get("threshold"), "threshold", _("The threshold"), minimum=1,
                          maximum=MAX_THRESHOLD, required=False)
    threshold_percent = int_value(values.get("threshold_percent"), "threshold_percent", _("The share of voters"),
                                  minimum=1, maximum=100, required=False)
    min_turnout = int_value(values.get("min_turnout_percent"), "min_turnout_percent", _("The minimum turnout"),
                            minimum=1, maximum=100, required=False)
    min_choices = 1 if min_choices is None else min_choices
    if method == "choose_one":
        if max_choices not in (None, 1) or min_choices > 1:
            raise InvalidField("max_choices", _("With “choose one”, a voter chooses exactly one project."),
                               "bad_rules")
        max_choices = 1
    if max_choices is not None and max_choices < min_choices:
        raise InvalidField("max_choices", _("The maximum number of choices is below the minimum."),
                           "bad_rules")
    if (method == "cumulative") != (points is not None):
        message = (_("Cumulative voting needs the number of points each voter spreads.")
                   if method == "cumulative"
                   else _("Points are only for cumulative voting; leave them empty."))
        raise InvalidField("points", message, "bad_rules")
    _check_threshold(rule, threshold, threshold_percent)
    return {"method": method, "min_choices": min_choices, "max_choices": max_choices, "points": points,
            "threshold": threshold, "outcome_rule": rule, "voters": voters,
            "threshold_percent": threshold_percent, "min_turnout_percent": min_turnout,
            "notice_days": _notice_days(values.get("notice_days"))}


def _notice_days(value) -> int:
    """The days of the result's public notice (公示), DEFAULT_NOTICE_DAYS when not given.

    :raises InvalidField: unless a whole number from MIN_NOTICE_DAYS to MAX_NOTICE_DAYS.
    """
    days = int_value(value, "notice_days", _("The days of public notice"), minimum=MIN_NOTICE_DAYS,
                     maximum=MAX_NOTICE_DAYS, required=False)
    return DEFAULT_NOTICE_DAYS if days is None else days


def _check_threshold(rule: str, threshold: int | None, percent: int | None) -> None:
    """:raises InvalidField: `bad_rules` unless greedy-threshold has one threshold (votes or a share
    of voters) and every other rule has none."""
    if rule == "greedy-threshold":
        if threshold is None and percent is None:
            raise InvalidField("threshold", _("The greedy-threshold rule needs a minimum number of votes or a "
                                              "minimum share of voters."), "bad_rules")
        if threshold is not None and percent is not None:
            raise InvalidField("threshold_percent", _("Give either a minimum number of votes or a minimum share "
                                                      "of voters, not both."), "bad_rules")
    elif threshold is not None:
        raise InvalidField("threshold", _("A threshold is only for the greedy-threshold rule; leave it empty."),
                           "bad_rules")
    elif percent is not None:
        raise InvalidField("threshold_percent", _("A threshold is only for the greedy-threshold rule; leave it "
                                                  "empty."), "bad_rules")


def voting_problems(session, cycle: Cycle, now: datetime) -> list[str]:
    """What still stops the vote from opening (empty when it may open)."""
    problems = []
    if cycle.voting_opens_at is None or cycle.voting_closes_at is None:
        problems.append(_("Set the voting window first."))
    elif cycle.voting_closes_at <= now:
        problems.append(_("The voting window has already closed; set a new one."))
    counts = dict(session.execute(
        select(Project.status, func.count()).where(Project.cycle_id == cycle.id).group_by(Project.status)
    ).all())
    on_ballot = counts.get("on_ballot", 0)
    if not on_ballot:
        problems.append(_("Put at least one proposal on the ballot."))
    if counts.get("submitted"):
        problems.append(_("%(n)d proposals still await review.", n=counts["submitted"]))
    if on_ballot and cycle.min_choices > on_ballot:
        problems.append(_("The rules ask for at least %(min)d choices, but the ballot has %(n)d projects.",
                          min=cycle.min_choices, n=on_ballot))
    return problems


def require_ready_to_vote(session, cycle: Cycle, now: datetime) -> None:
    """:raises Conflict: `not_ready` naming everything that stops the vote from opening."""
    problems = voting_problems(session, cycle, now)
    if problems:
        raise Conflict(" ".join(problems), "not_ready")


def _start_no_earlier_than_now(cycle: Cycle, now: datetime) -> None:
    if cycle.voting_opens_at < now:
        cycle.voting_opens_at = now  # the record says when voting really opened


def move_phase(session, user, cycle: Cycle, phase, reason=None, now: datetime | None = None) -> Cycle:
    """Move the cycle to the next phase (SPEC order, one step forward).

    Opening the vote needs the window and a reviewed ballot; voting then starts at its set time.
    Closing the vote before its set time needs a reason, which is kept and shown publicly.

    :raises Forbidden: unless staff of the community.
    :raises InvalidField: `unknown_phase`; `reason_required` to close voting early.
    :raises Conflict: `phase_out_of_order` for anything but the next phase; `voting_scheduled` when
        the vote is already set to open; `not_ready` when the vote cannot open yet; `notice_period`,
        `objections_unanswered` to start implementation during the result's public notice or with an
        objection unanswered (`results.services.require_notice_over`); `projects_open` when archiving
        with a funded project neither accepted, carried over nor ended.
    """
    clock_given, now = now is not None, now or utcnow()
    require_staff_of(user, cycle.community_id)
    if phase not in PHASES:
        raise InvalidField("phase", _("Unknown phase; the phases are %(names)s.", names=", ".join(PHASES)),
                           "unknown_phase")
    current = cycle.current_phase(now)
    if phase == Phase.VOTING and cycle.is_voting_scheduled(now):
        raise Conflict(_("Voting is already set to open at the start of its window."), "voting_scheduled")
    if NEXT_PHASE.get(current) != phase:
        following = NEXT_PHASE.get(current)
        message = (_("The cycle is %(current)s; it can only move on to %(next)s.",
                     current=PHASE_NAMES[current], next=PHASE_NAMES[following]) if following
                   else _("The cycle is closed; it cannot move on."))
        raise Conflict(message, "phase_out_of_order")
    reason = text_value(reason, "reason", _("The reason"), max_length=REASON_LENGTH, required=False)
    if phase == Phase.REVIEW:
        cycle.review_started_at = now
    elif phase == Phase.VOTING:
        require_ready_to_vote(session, cycle, now)
        _start_no_earlier_than_now(cycle, now)
    elif phase == Phase.RESULTS:  # from open voting, which by the clock is still before its close
        if reason is None:
            raise InvalidField(
                "reason", _("Say why voting closes before its set time; the reason is published."),
                "reason_required",
            )
        # Casts hold the chain head until they commit: once it is ours, every acknowledged ballot is
        # in, and the close's time (read now) is later than each of them.
        lock_chain_head(session, cycle.id)
        now = now if clock_given else utcnow()
        cycle.closed_early_reason = reason
        cycle.voting_closes_at = min(now, cycle.voting_closes_at or now)
    elif phase == Phase.IMPLEMENTATION:
        ensure_result(session, cycle, now)  # the funded projects are known before building starts
        require_notice_over(session, cycle, now)  # 公示: the period has ended, every objection answered
        cycle.implementation_started_at = now
    elif phase == Phase.CLOSED:  # each project not accepted is carried over or ended first
        require_year_settled(session, cycle)
        cycle.closed_at = now
    cycle.phase = phase
    session.flush()
    log_staff_action(session, user, "cycle.phase", cycle.community, cycle=cycle.id, phase=phase,
                     **({"reason": reason} if reason else {}))
    return cycle


@dataclass(frozen=True)
class Turnout:
    """How many have voted, never what they chose."""

    voted: int
    eligible: int
    by_channel: dict
    added_after_opening: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.voted / self.eligible, 1) if self.eligible else None


def turnout(session, cycle: Cycle) -> Turnout:
    """Residents of the roll who have voted, out of the electorate (`electorate_size`: in a vote of
    one per household, the households)."""
    by_channel = dict(session.execute(
        select(RollEntry.channel, func.count()).where(RollEntry.cycle_id == cycle.id, RollEntry.has_voted)
        .group_by(RollEntry.channel)
    ).all())
    return Turnout(voted=sum(by_channel.values()), eligible=electorate_size(session, cycle), by_channel=by_channel,
                   added_after_opening=added_after_opening(session, cycle))


@dataclass(frozen=True)
class ClosePreview:
    """What closing the vote now would publish: the turnout, the minimum, and the count's outcome."""

    turnout: Turnout
    min_turnout_percent: int | None
    count: Count

    @property
    def funds_nothing(self) -> bool:
        return not self.count.selected


def close_preview(session, user, cycle: Cycle, now: datetime | None = None) -> ClosePreview:
    """Count the open vote as closing it now would, storing no result, for the staff member about to
    close it early. Each look is in the action log: it shows the count before the close.

    :raises Forbidden: unless staff of the community.
    :raises Conflict: `voting_not_open` unless voting is open now.
    """
    now = now or utcnow()
    require_staff_of(user, cycle.community_id)
    if not cycle.is_voting_open(now):
        raise Conflict(_("Voting is not open: there is no vote to close early."), "voting_not_open")
    count = count_cycle(session, cycle)
    log_staff_action(session, user, "cycle.close_preview", cycle.community, cycle=cycle.id,
                     ballots=count.ballots, eligible=count.eligible, would_fund=count.selected)
    return ClosePreview(turnout(session, cycle), cycle.min_turnout_percent, count)
