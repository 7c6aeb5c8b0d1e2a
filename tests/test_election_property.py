"""Random elections from the first ballot to the auditor's recount (Hypothesis).

Each example draws a community's vote: 2–8 projects with costs (whole yuan or odd fen, a reviewed
cost sometimes differing from the estimate, sometimes a rejected proposal beside them), a fund,
a voting method and an outcome rule, residents on one or two grids, and a sequence of actions:
online ballots (the API or the service), revisions, assisted ballots at the door, paper batches
typed twice and reconciled (disputes left or resolved), and attempts that must be refused
(broken choices, strangers, the wrong worker, a ballot after the close), each checked to change
nothing. The vote is set up and closed through the real services and routes, the result is
published by whichever comes first (the results API, the auditor's download; moving on to
implementation first is refused, its public notice not yet run, and publishes nothing), and the
auditor's downloads are recounted independently:

- the standalone verifier (`voting/audit/verify_record.py`, loaded from its file: standard library
  only) checks the chain and recounts the CSV and the JSON or XLSX record;
- `voting tally` counts the pabulib export and `voting verify` checks the CSV and the .pb;
- the test's own model of what was cast gives every voter's history and current ballot and
  each project's votes.

All of them must give the published result: the funded projects in order, the ballots counted,
every project's votes and score. A failing example prints the drawn election (`note`).
`VOTING_PROPERTY_EXAMPLES` sets the number of examples (default 40).
"""
from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import current_app
from hypothesis import HealthCheck, event, given, note, settings, strategies as st
from sqlalchemy import select

from voting.accounts.models import User
from voting.accounts.services import issue_token
from voting.audit.exports import write_xlsx
from voting.audit.records import RecordHeader, RecordProject
from voting.ballots import paper
from voting.ballots.codes import voter_code
from voting.ballots.models import Ballot, BallotChain, PaperBatch, PaperEntry, RollEntry
from voting.ballots.casting import CastingCycle, Voter
from voting.ballots.services import cast_ballot
from voting.cycles.models import Cycle
from voting.cycles.services import move_phase, set_rules, set_window
from voting.database import utcnow
from voting.errors import DomainError
from voting.extensions import db
from voting.proposals.models import Project
from voting.results.models import CycleResult

from conftest import _empty_tables

VERIFIER = Path(__file__).resolve().parent.parent / "voting" / "audit" / "verify_record.py"
METHODS = ("approval", "knapsack", "cumulative", "choose_one")
OUTCOME_RULES = ("greedy", "greedy-no-skip", "greedy-threshold", "mes", "mes+greedy")
# A choice names a project by its index on the ballot, or by one of these (never on the ballot).
NOT_ON_BALLOT = ("rejected", "unknown", "text", "bool")
MUTATIONS = ("duplicate", *NOT_ON_BALLOT, "zero_points", "negative_points", "text_points", "extra_point")
EXAMPLES = int(os.environ.get("VOTING_PROPERTY_EXAMPLES", "40"))


def load_standalone_verifier():
    """verify_record.py from its file, as a module of its own (not `voting.audit.verify_record`)."""
    spec = importlib.util.spec_from_file_location("standalone_verify_record", VERIFIER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


STANDALONE = load_standalone_verifier()


# --- what an example draws ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    method: str
    min_choices: int
    max_choices: int | None
    points: int | None
    outcome_rule: str
    threshold: int | None


@dataclass(frozen=True)
class Online:
    voter: int
    choices: tuple
    via: str  # "api" or "service"


@dataclass(frozen=True)
class Assisted:
    voter: int
    choices: tuple
    worker: str  # "own" (the voter's grid worker), "other" (another grid's), "staff"


@dataclass(frozen=True)
class Stranger:
    who: str  # "outsider" (another community) or "moved" (no longer on the register)
    choices: tuple
    channel: str


@dataclass(frozen=True)
class Paper:
    grid: int
    opener: str  # "worker" or "staff": the other one types round 2
    round1: tuple  # ((voter or "moved", choices), …)
    round2: tuple
    resolve: bool  # re-type or remove the disputed entries, then reconcile again


@dataclass(frozen=True)
class SoFar:
    """The auditor downloads the record while voting is open."""


@dataclass(frozen=True)
class Scenario:
    rules: Rules
    fund_fen: int
    projects: tuple  # ((estimate fen, reviewed fen or None), …)
    rejected: bool
    grids: int
    residents: tuple  # the grid index of each resident
    actions: tuple
    close: str  # "early" (staff, with a reason) or "clock" (the closing time passes)
    publish: str  # what first needs the result: "api", "export" or "implementation"
    second_format: str  # "json" or "xlsx", verified besides the CSV

    def describe(self) -> str:
        lines = [f"rules {self.rules}", f"fund {self.fund_fen} fen",
                 f"projects (estimate, reviewed) {self.projects}",
                 f"rejected proposal: {self.rejected}; grids {self.grids}; residents' grids {self.residents}",
                 f"close {self.close}, published via {self.publish}, verified as {self.second_format} too",
                 "actions:"]
        return "\n".join(lines + [f"  {n}. {action}" for n, action in enumerate(self.actions, start=1)])


# Small sums keep the standalone verifier's add-one completion quick (it raises a yuan at a time);
# a few round costs make ties in cost likely.
money = st.one_of(st.sampled_from((20_000, 50_000, 100_000)),
                  st.integers(1, 1500).map(lambda yuan: yuan * 100), st.integers(1, 150_000))


@st.composite
def rules(draw, projects: int) -> Rules:
    method = draw(st.sampled_from(METHODS))
    rule = draw(st.sampled_from(OUTCOME_RULES))
    threshold = draw(st.integers(1, 4)) if rule == "greedy-threshold" else None
    if method == "choose_one":
        return Rules(method, draw(st.integers(0, 1)), 1, None, rule, threshold)
    least = draw(st.integers(0, min(2, projects)))
    most = draw(st.one_of(st.none(), st.integers(max(1, least), projects)))
    points = draw(st.integers(1, 10)) if method == "cumulative" else None
    return Rules(method, least, most, points, rule, threshold)


@st.composite
def choices(draw, projects: int, rules: Rules) -> tuple:
    """Mostly what a voter would send, within the limits (knapsack may still be over the fund);
    sometimes any number of projects, or a broken ballot."""
    fewest = 1 if rules.method == "choose_one" else rules.min_choices
    most = {"choose_one": 1, "approval": rules.max_choices}.get(rules.method) or projects
    within = draw(st.integers(0, 3)) > 0
    chosen = draw(st.lists(st.integers(0, projects - 1), unique=True, min_size=fewest if within else 0,
                           max_size=min(most, 5) if within else min(projects, 5)))
    if rules.method == "cumulative":
        each = max(1, rules.points // max(1, len(chosen)))
        pairs = [(p, draw(st.integers(1, each if within else rules.points))) for p in chosen]
    else:
        pairs = [(p, 1) for p in chosen]
    if draw(st.integers(0, 4)) == 0:
        mutation = draw(st.sampled_from(MUTATIONS))
        index = draw(st.integers(0, len(pairs))) if pairs else 0
        if mutation == "duplicate":
            pairs = pairs or [(0, 1)]
            pairs.insert(index, pairs[0])
        elif mutation in NOT_ON_BALLOT:
            pairs.insert(index, (mutation, 1))
        elif pairs:
            at = min(index, len(pairs) - 1)
            project, given = pairs[at]
            pairs[at] = (project, {"zero_points": 0, "negative_points": -1, "text_points": "2",
                                   "extra_point": given + 1}[mutation])
    return tuple(pairs)


@st.composite
def scenarios(draw) -> Scenario:
    count = draw(st.integers(2, 8))
    drawn_rules = draw(rules(count))
    projects = tuple((estimate, draw(st.one_of(st.none(), st.none(), money)))
                     for estimate in draw(st.lists(money, min_size=count, max_size=count)))
    fund = draw(st.one_of(st.just(300_000), st.integers(1, 4000).map(lambda yuan: yuan * 100),
                          st.integers(1, 400_000)))
    grids = draw(st.integers(1, 2))
    residents = tuple(draw(st.lists(st.integers(0, grids - 1), min_size=2, max_size=8)))
    voters = len(residents)

    def ballot():
        return choices(count, drawn_rules)

    voter = st.integers(0, voters - 1)
    actions = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.sampled_from(("online", "online", "online", "assisted", "assisted", "paper",
                                     "stranger", "so_far")))
        if kind == "online":
            actions.append(Online(draw(voter), draw(ballot()), draw(st.sampled_from(("api", "service")))))
        elif kind == "assisted":
            worker = draw(st.sampled_from(("own", "own", "other", "staff")))
            actions.append(Assisted(draw(voter), draw(ballot()), worker))
        elif kind == "stranger":
            actions.append(Stranger(draw(st.sampled_from(("outsider", "moved"))), draw(ballot()),
                                    draw(st.sampled_from(("online", "assisted")))))
        elif kind == "so_far":
            actions.append(SoFar())
        else:
            grid = draw(st.integers(0, grids - 1))
            # Mostly residents of the batch's grid; sometimes one of another grid, or one who moved.
            mine = [n for n, g in enumerate(residents) if g == grid]
            paper_voter = st.one_of(*[st.sampled_from(mine)] * 6 * bool(mine), voter, st.just("moved"))
            round1 = draw(st.lists(st.tuples(paper_voter, ballot()), max_size=4).map(tuple))
            # Round 2 types the same papers, mostly alike: some differ, some are missing, some extra.
            round2 = []
            for who, typed in round1:
                how = draw(st.sampled_from(("same", "same", "same", "other", "missing")))
                if how != "missing":
                    round2.append((who, typed if how == "same" else draw(ballot())))
            round2 += draw(st.lists(st.tuples(paper_voter, ballot()), max_size=1))
            round2 = draw(st.permutations(round2))
            actions.append(Paper(grid, draw(st.sampled_from(("worker", "staff"))), round1, tuple(round2),
                                 draw(st.booleans())))
    return Scenario(drawn_rules, fund, projects, draw(st.booleans()), grids, residents, tuple(actions),
                    draw(st.sampled_from(("early", "clock"))), draw(st.sampled_from(("api", "export",
                                                                                    "implementation"))),
                    draw(st.sampled_from(("json", "xlsx"))))


# --- the oracle: what the rules say of a ballot (SPEC §4, rules.py's order of checks) --------------------


def as_project_id(value):
    """What the test sends as a project: an id (a JSON key: its digits), "x1" or True (never an id)."""
    return None if isinstance(value, bool) or not str(value).isdigit() else int(value)


def refusal(rules: Rules, fund_fen: int, costs: dict, pairs) -> str | None:
    """The code a ballot of these (project, points) pairs is refused with, or None when it is valid."""
    ids = [as_project_id(project) for project, _points in pairs]
    if any(project not in costs for project in ids):
        return "unknown_project"
    if len(set(ids)) < len(ids):
        return "duplicate_project"
    points = [given for _project, given in pairs]
    whole = all(isinstance(given, int) and not isinstance(given, bool) for given in points)
    cumulative = rules.method == "cumulative"
    if not whole or any(given < 1 if cumulative else given != 1 for given in points):
        return "bad_points"
    if cumulative and sum(points) > rules.points:
        return "bad_points"
    fewest = 1 if rules.method == "choose_one" else rules.min_choices
    most = {"choose_one": 1, "approval": rules.max_choices}.get(rules.method)
    if len(ids) < fewest:
        return "too_few_choices"
    if most is not None and len(ids) > most:
        return "too_many_choices"
    if rules.method == "knapsack" and sum(costs[project] for project in ids) > fund_fen:
        return "over_budget"
    return None


def chosen(pairs) -> dict:
    """A valid ballot's pairs as {project id: points}."""
    return {as_project_id(project): given for project, given in pairs}


# --- running an example --------------------------------------------------------------------------------


def transactional(call):
    """Run a service call as a view under @transactional does: commit, or roll back a refusal."""
    try:
        outcome = call()
    except DomainError as error:
        db.session.rollback()
        return error
    db.session.commit()
    return outcome


def state(cycle_id: int) -> tuple:
    """Everything a refused attempt must leave as it was."""
    db.session.commit()
    s = db.session
    return (
        sorted(map(tuple, s.execute(select(Ballot.id, Ballot.version, Ballot.is_current, Ballot.chain_hash)
                                    .where(Ballot.cycle_id == cycle_id)))),
        tuple(s.execute(select(BallotChain.last_seq, BallotChain.head_hash)
                        .where(BallotChain.cycle_id == cycle_id)).one_or_none() or ()),
        sorted(map(tuple, s.execute(select(RollEntry.resident_id, RollEntry.has_voted, RollEntry.channel)
                                    .where(RollEntry.cycle_id == cycle_id)))),
        sorted(map(tuple, s.execute(select(PaperEntry.id, PaperEntry.round, PaperEntry.resident_id,
                                           PaperEntry.status, PaperEntry.choices)))),
        s.scalar(select(Cycle.rules_frozen_at).where(Cycle.id == cycle_id)),
    )


class Election:
    """One drawn election run against the app, with the model of what must have been recorded."""

    def __init__(self, scenario: Scenario, factory, client, runner, auth, folder: Path):
        self.s, self.factory, self.client, self.runner, self.auth = scenario, factory, client, runner, auth
        self.folder = folder
        self.history: dict[int, list[tuple[str, str, dict]]] = {}  # voter -> [(channel, worker, choices)]
        self.closed = False

    # setting up, through the staff's services ----------------------------------------------------

    def build(self) -> None:
        f, s = self.factory, self.s
        sub = f.sub_district()
        community, elsewhere = f.community(sub, "c1"), f.community(sub, "c2")
        self.grids = [f.grid(community, n) for n in range(1, s.grids + 1)]
        self.workers = [f.user(f"grid-c1-{n}", "grid_worker", community, grid)
                        for n, grid in enumerate(self.grids, start=1)]
        self.staff = f.user("staff-c1", "staff", community)
        f.user("auditor", "auditor")
        self.voters = [f.resident(community, self.grids[g], f"resident-c1-{n}")
                       for n, g in enumerate(s.residents)]
        self.moved = f.resident(community, self.grids[0], "resident-c1-moved", status="moved")
        other_grid = f.grid(elsewhere)
        self.outsider = f.resident(elsewhere, other_grid, "resident-c2-1")
        self.other_worker = f.user("grid-c2-1", "grid_worker", elsewhere, other_grid)
        cycle = f.cycle(community, phase="review")
        cycle.fund_fen = s.fund_fen
        self.projects = []
        for n, (estimate, reviewed) in enumerate(s.projects, start=1):
            project = f.project(cycle, f"项目{n}", 1)
            project.estimated_cost_fen, project.cost_fen = estimate, reviewed or estimate
            self.projects.append(project)
        rejected = None
        if s.rejected:
            rejected = f.project(cycle, "未列入", 100, status="rejected", review_reason="不属于惠民实事")
        db.session.commit()
        now = utcnow()
        set_rules(db.session, self.staff, cycle, {**vars(s.rules)}, now)
        set_window(db.session, self.staff, cycle, now - timedelta(hours=1), now + timedelta(days=7), now)
        move_phase(db.session, self.staff, cycle, "voting", now=now)
        db.session.commit()
        self.cycle_id = cycle.id
        self.ids = [p.id for p in self.projects]
        self.costs = {p.id: p.ballot_cost_fen for p in self.projects}
        self.tags = {"rejected": rejected.id if rejected else 999_999, "unknown": 999_999, "text": "x1",
                     "bool": True}
        self.tokens = {user.id: issue_token(db.session, user, 12)[0]
                       for user in [*self.voters, self.moved, self.outsider, self.staff]}
        db.session.commit()
        assert self.auth.login("auditor").status_code == 302

    def pairs(self, drawn: tuple) -> list:
        """The drawn choices with real project ids."""
        return [(self.ids[p] if isinstance(p, int) and not isinstance(p, bool) else self.tags[p], n)
                for p, n in drawn]

    def expected(self, pairs) -> str | None:
        return "voting_closed" if self.closed else refusal(self.s.rules, self.s.fund_fen, self.costs, pairs)

    def token_of(self, user) -> dict:
        return {"Authorization": f"Bearer {self.tokens[user.id]}"}

    # the actions -----------------------------------------------------------------------------------

    def run(self, action) -> None:
        {Online: self.online, Assisted: self.assisted, Stranger: self.stranger, Paper: self.paper,
         SoFar: self.so_far}[type(action)](action)

    def online(self, action: Online) -> None:
        user, pairs = self.voters[action.voter], self.pairs(action.choices)
        if action.via == "api":
            self.api_cast(user, pairs, action.voter)
        else:
            self.service_cast(Voter.of_account(user), pairs, "online", None, self.expected(pairs), action.voter)

    def assisted(self, action: Assisted) -> None:
        user, pairs = self.voters[action.voter], self.pairs(action.choices)
        grid = self.s.residents[action.voter]
        worker = {"own": self.workers[grid], "staff": self.staff,
                  "other": self.workers[1 - grid] if self.s.grids == 2 else self.other_worker}[action.worker]
        wanted = "not_your_grid" if action.worker != "own" else self.expected(pairs)
        self.service_cast(Voter.of_resident(user.resident), pairs, "assisted", worker, wanted, action.voter)

    def stranger(self, action: Stranger) -> None:
        person = self.outsider if action.who == "outsider" else self.moved
        pairs = self.pairs(action.choices)
        if action.channel == "online":
            self.api_cast(person, pairs, None, refused="not_eligible")
        else:
            self.service_cast(Voter.of_resident(person.resident), pairs, "assisted", self.workers[0], "not_eligible",
                              None)

    def so_far(self, _action) -> None:
        path = self.download("csv", "so-far")
        status, lines = STANDALONE.verify(str(path))
        assert status == STANDALONE.EXIT_OK, lines
        assert "SO FAR" in "\n".join(lines)
        assert f"rows: {self.rows()} ballots recorded" in lines[1], lines

    def api_body(self, pairs) -> dict:
        if self.s.rules.method == "cumulative" or any(n != 1 or isinstance(n, bool) for _p, n in pairs):
            return {"points": {str(p): n for p, n in pairs}}
        return {"projects": [p for p, _n in pairs]}

    def api_cast(self, user, pairs, voter: int | None, refused: str | None = None) -> None:
        """PUT the ballot as the resident's app does; `refused`: the code expected whatever the choices."""
        body = self.api_body(pairs)
        sent = list(body["points"].items()) if "points" in body else [(p, 1) for p in body["projects"]]
        expected = refused or self.expected(sent)
        before = state(self.cycle_id)
        response = self.client.put(f"/api/v1/cycles/{self.cycle_id}/ballot", json=body,
                                   headers=self.token_of(user))
        answer = response.get_json()
        if expected is None:
            assert response.status_code == 200, answer
            self.record(voter, "online", "", chosen(sent), answer["version"])
        else:
            assert response.status_code in (403, 409, 422) and answer["error"]["code"] == expected, answer
            assert state(self.cycle_id) == before
            event(f"refused: API {expected}")

    def service_cast(self, voter, pairs, channel, worker, expected, index: int | None) -> None:
        before = state(self.cycle_id)
        outcome = transactional(lambda: cast_ballot(
            db.session, CastingCycle.read(db.session, db.session.get(Cycle, self.cycle_id)), voter, pairs, channel,
            worker, utcnow()))
        if expected is None:
            assert not isinstance(outcome, DomainError), outcome
            worker_name = worker.username if worker else ""
            self.record(index, channel, worker_name, chosen(pairs), outcome.answer["version"])
        else:
            assert isinstance(outcome, DomainError) and outcome.code == expected, outcome
            assert state(self.cycle_id) == before
            event(f"refused: {channel} {expected}")

    def record(self, voter: int, channel: str, worker: str, choices: dict, version: int) -> None:
        self.history.setdefault(voter, []).append((channel, worker, choices))
        assert version == len(self.history[voter])
        counted(channel, self.history[voter])

    def paper(self, action: Paper) -> None:
        grid = self.grids[action.grid]
        worker = self.workers[action.grid]
        first, second = (worker, self.staff) if action.opener == "worker" else (self.staff, worker)
        opened = transactional(lambda: paper.create_batch(db.session, first, self.cycle(), grid.id, "票箱",
                                                          utcnow()))
        assert not isinstance(opened, DomainError), opened
        batch_id = opened.id
        rounds = [self.type_round(batch_id, first, action.round1, action.grid),
                  self.type_round(batch_id, second, action.round2, action.grid)]
        assert self.finish(batch_id, first) is None
        agreed = {v: c for v, c in rounds[0].items() if rounds[1].get(v) == c}
        disputed = {v: ("differs" if v in rounds[0] and v in rounds[1] else
                        "only_round_1" if v in rounds[0] else "only_round_2")
                    for v in rounds[0].keys() | rounds[1].keys() if v not in agreed}
        # A paper of a resident who already voted (any channel) is never cast silently: the staff decide.
        already = {v for v in agreed if self.history.get(v)}
        fresh = {v: c for v, c in agreed.items() if v not in already}
        outcome = self.finish(batch_id, second)
        assert (outcome.accepted, outcome.disputed) == (len(fresh), len(disputed) + len(already))
        if already:
            event("paper: a resident who already voted, left to the staff")
        self.paper_ballots(fresh, first)
        if action.resolve and disputed:
            for v, problem in sorted(disputed.items()):
                resident_id = self.voters[v].resident_id
                if problem == "only_round_2":  # no such paper: remove the entry
                    entry = db.session.scalar(select(PaperEntry.id).where(
                        PaperEntry.batch_id == batch_id, PaperEntry.round == 2,
                        PaperEntry.resident_id == resident_id))
                    done = transactional(lambda entry=entry: paper.remove_entry(db.session, second,
                                                                                self.batch(batch_id), entry))
                else:  # the second typist looks at the paper again and types what round 1 typed
                    done = self.enter(batch_id, second, resident_id, list(rounds[0][v].items()))
                assert not isinstance(done, DomainError), done
            outcome = transactional(lambda: paper.reconcile(db.session, second, self.batch(batch_id),
                                                            utcnow()))
            retyped = {v: rounds[0][v] for v, problem in disputed.items() if problem != "only_round_2"}
            resolved = {v: c for v, c in retyped.items() if not self.history.get(v)}
            assert (outcome.accepted, outcome.disputed) == (len(resolved), len(already) + len(retyped) - len(resolved))
            event("paper: disputes resolved")
            self.paper_ballots(resolved, first)

    def type_round(self, batch_id: int, typist, entries, grid: int) -> dict:
        """Type one round's entries; the refused ones change nothing. {voter: choices} as typed."""
        typed = {}
        for who, drawn in entries:
            pairs = self.pairs(drawn)
            person = self.moved if who == "moved" else self.voters[who]
            on_roll = who != "moved" and self.s.residents[who] == grid
            expected = "not_on_roll" if not on_roll else self.expected(pairs)
            before = state(self.cycle_id)
            outcome = self.enter(batch_id, typist, person.resident_id, pairs)
            if expected is None:
                assert not isinstance(outcome, DomainError), outcome
                typed[who] = chosen(pairs)
            else:
                assert isinstance(outcome, DomainError) and outcome.code == expected, outcome
                assert state(self.cycle_id) == before
                event(f"refused: paper entry {expected}")
        return typed

    def enter(self, batch_id, typist, resident_id, pairs):
        return transactional(lambda: paper.add_entry(db.session, typist, self.batch(batch_id), resident_id,
                                                     pairs, utcnow()))

    def finish(self, batch_id, typist):
        outcome = transactional(lambda: paper.finish_round(db.session, typist, self.batch(batch_id),
                                                           utcnow()))
        assert not isinstance(outcome, DomainError), outcome
        return outcome

    def paper_ballots(self, ballots: dict, recorded_by) -> None:
        for voter, choices in sorted(ballots.items(), key=lambda item: self.voters[item[0]].resident_id):
            self.history.setdefault(voter, []).append(("paper", recorded_by.username, choices))
            counted("paper", self.history[voter])

    def batch(self, batch_id: int) -> PaperBatch:
        return db.session.get(PaperBatch, batch_id)

    def cycle(self) -> Cycle:
        return db.session.get(Cycle, self.cycle_id)

    def rows(self) -> int:
        return sum(map(len, self.history.values()))

    # closing, publishing, downloading --------------------------------------------------------------

    def close(self) -> None:
        staff = self.token_of(self.staff)
        if self.s.close == "early":
            response = self.client.post(f"/api/v1/cycles/{self.cycle_id}/phase", headers=staff,
                                        json={"phase": "results", "reason": "提前完成投票"})
            assert response.status_code == 200, response.get_json()
        else:
            self.cycle().voting_closes_at = utcnow()
            db.session.commit()
        self.closed = True
        assert db.session.get(CycleResult, self.cycle_id) is None  # nobody needed the result yet
        if self.s.publish == "implementation":
            response = self.client.post(f"/api/v1/cycles/{self.cycle_id}/phase", headers=staff,
                                        json={"phase": "implementation"})
            assert response.status_code == 409 and response.get_json()["error"]["code"] == "notice_period"
            db.session.rollback()
            assert db.session.get(CycleResult, self.cycle_id) is None  # the refusal published nothing
        elif self.s.publish == "export":
            # The record is there even when nobody voted (empty, its result funding nothing).
            response = self.client.get(f"/audit/cycles/{self.cycle_id}/record.csv")
            assert response.status_code == 200, response.get_data(as_text=True)[:300]
        late = self.voters[0]
        self.api_cast(late, [(self.ids[0], 1)], 0)  # after the close: voting_closed, and nothing changes
        self.published = self.client.get(f"/api/v1/cycles/{self.cycle_id}/results").get_json()

    def download(self, file_format: str, label: str) -> Path:
        response = self.client.get(f"/audit/cycles/{self.cycle_id}/record.{file_format}")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        path = self.folder / f"{label}.{file_format}"
        path.write_bytes(response.data)
        return path

    # the recounts ----------------------------------------------------------------------------------

    def check(self) -> None:
        published, stored = self.published, db.session.get(CycleResult, self.cycle_id)
        head = published["chain"]["head"]
        current = {v: versions[-1][2] for v, versions in self.history.items()}
        secret = current_app.config["SECRET_KEY"]
        code = {v: voter_code(secret, self.cycle_id, self.voters[v].resident_id) for v in self.history}
        selected = published["selected"]
        event(f"{self.s.rules.method}, {self.s.rules.outcome_rule}: "
              f"{'nothing' if not selected else 'some' if len(selected) < len(self.ids) else 'all'} funded")
        if any(not ballot for ballot in current.values()):
            event("an empty ballot counted")
        assert published["ballots_counted"] == stored.ballots_counted == len(current)
        assert published["chain"]["seq"] == self.rows()

        # What the model says the count is: the votes and scores of every project, and the funded ones.
        votes = Counter(p for ballot in current.values() for p in ballot)
        score = Counter()
        for ballot in current.values():
            score.update({p: n if self.s.rules.method == "cumulative" else 1 for p, n in ballot.items()})
        ballots = [sorted(b.items()) for b in current.values()]
        rules = self.s.rules
        modelled = STANDALONE.count(sorted(self.costs.items()), self.s.fund_fen, ballots, rules.method,
                                    rules.outcome_rule, rules.threshold)
        assert modelled.selected == selected
        assert {p["id"]: p["votes"] for p in published["projects"]} == {p: votes[p] for p in self.ids}
        outcomes = json.loads(stored.outcomes)
        assert {o["id"]: (o["votes"], o["score"]) for o in outcomes} == {
            p: (votes[p], score[p]) for p in self.ids}
        db.session.expire_all()
        for project in db.session.scalars(select(Project).where(Project.id.in_(self.ids))):
            assert project.votes == votes[project.id]
            assert (project.status == "funded") == (project.id in selected), project.status

        # The roll: each voter once, with the channel of their latest ballot and who entered it.
        roll = {resident: (channel, worker or "") for resident, channel, worker in db.session.execute(
            select(RollEntry.resident_id, RollEntry.channel, User.username)
            .outerjoin(User, User.id == RollEntry.worker_id)
            .where(RollEntry.cycle_id == self.cycle_id, RollEntry.has_voted))}
        assert roll == {self.voters[v].resident_id: versions[-1][:2] for v, versions in self.history.items()}

        # The standalone verifier: the chain, every row, and its recount of the current ballots.
        paths = [self.download("csv", "final"), self.download(self.s.second_format, "final")]
        for path in paths:
            status, lines = STANDALONE.verify(str(path), head)
            assert status == STANDALONE.EXIT_OK, lines
            record = STANDALONE.read_record(str(path))
            try:
                checked = STANDALONE.check_rows(record, head)
                recount = STANDALONE.recount(record, checked)
            finally:
                record.close()
            assert recount.selected == selected and recount.ballots == len(current)
            assert checked.rows == self.rows() and checked.superseded == self.rows() - len(current)
            assert checked.current == {code[v]: sorted(b.items()) for v, b in current.items()}
            assert record.header.selected == selected and record.header.chain_head == head
            record = STANDALONE.read_record(str(path))
            try:
                written = {}
                for row in record.rows:
                    written.setdefault(row.voter_code, []).append((row.version, dict(row.choices), row.superseded))
            finally:
                record.close()
            # Every version, in order, with its choices; no channel and no worker (the roll has them).
            assert written == {code[v]: [(n, choices, n < len(versions))
                                         for n, (_channel, _worker, choices) in enumerate(versions, start=1)]
                               for v, versions in self.history.items()}
            ours = self.runner.invoke(args=["verify", str(path), "--head", head])
            assert ours.exit_code == 0, ours.output

        # The pabulib export, counted by `voting tally` and checked by `voting verify`.
        pb = self.download("pb", "final")
        tally = self.runner.invoke(args=["tally", str(pb), "--format", "json"])
        assert tally.exit_code == 0, tally.output
        tallied = json.loads(tally.output)
        # `voting tally` keeps pabulib's semantics: a project without votes is funded when it fits
        pabulib = STANDALONE.count(sorted(self.costs.items()), self.s.fund_fen, ballots, rules.method,
                                   rules.outcome_rule, rules.threshold, fund_unvoted=True)
        assert tallied["selected"] == [str(p) for p in pabulib.selected]
        assert {int(p["id"]): p["score"] for p in tallied["projects"]} == {p: score[p] for p in self.ids}
        ours = self.runner.invoke(args=["verify", str(pb)])
        assert ours.exit_code == 0, ours.output


def counted(channel: str, versions: list) -> None:
    """Hypothesis statistics: which kinds of ballot the examples recorded."""
    event(f"recorded: {channel}")
    if len(versions) > 1:
        event("recorded: a revision" + (" by another channel" if versions[-2][0] != channel else ""))


def test_an_xlsx_record_that_funds_nothing_verifies(tmp_path):
    """Found by the property below: the verifier's XLSX reader dropped the header's empty `selected`
    (a row whose value cell is empty) and refused every final XLSX record that funds nothing."""
    header = RecordHeader(cycle_id=1, community_code="c1", community_name="c1社区", year=2026,
                          fund_fen=300_000, method="approval", min_choices=0, max_choices=None, points=None,
                          threshold=1, outcome_rule="greedy-threshold", voting_opens_at=datetime(2026, 11, 1),
                          voting_closes_at=datetime(2026, 11, 15), status="final", chain_seq=0,
                          chain_head=STANDALONE.genesis_hash(1), ballots_counted=0, selected=(),
                          exported_at=datetime(2026, 11, 28),
                          projects=(RecordProject(1, 100, "路灯", "road"),))
    path = tmp_path / "record.xlsx"
    write_xlsx(header, [], str(path))
    status, lines = STANDALONE.verify(str(path))
    assert status == STANDALONE.EXIT_OK, lines
    assert lines[4].startswith("recount (greedy-threshold)") and "funded nothing" in lines[4]


def test_the_verifier_needs_only_the_standard_library():
    tree = ast.parse(VERIFIER.read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


@settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(scenario=scenarios())
def test_the_published_result_is_the_recount_of_the_exported_record(app, factory, client, runner, auth,
                                                                    tmp_path, scenario):
    db.session.remove()
    _empty_tables()  # each example starts from empty tables, as each test does
    note(scenario.describe())
    election = Election(scenario, factory, client, runner, auth, Path(tempfile.mkdtemp(dir=tmp_path)))
    election.build()
    for action in scenario.actions:
        election.run(action)
    election.close()
    election.check()
