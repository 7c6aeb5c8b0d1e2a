"""The cycle: opening next year's, its phases (forward only, by the clock for voting), the voting
window and rules (frozen once voting opens), and the staff dashboard."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from voting.ballots.models import RollEntry
from voting.cycles.models import METHODS, OUTCOME_RULES, VOTERS, Cycle
from voting.database import utcnow
from voting.enums import Phase, ProjectStatus
from voting.extensions import db
from voting.proposals.models import CATEGORIES, Project

EN = {"Accept-Language": "en"}


def iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def call(client, auth, method, path, body=None, username="staff-ca"):
    return client.open(path, method=method, json=body, headers=auth.headers(username) | EN)


def error_code(response) -> str:
    return response.get_json()["error"]["code"]


def cycle_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Cycle))


@pytest.fixture()
def finished(world):
    """Community ca's 2026 cycle is being built: next year's may open."""
    world.a.cycle.phase = "implementation"
    db.session.commit()
    return world.a.cycle


@pytest.fixture()
def collecting(world, factory):
    """Community ca: 2026 done, 2027 collecting."""
    world.a.cycle.phase = "closed"
    cycle = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    return cycle


def make_ready(factory, cycle, opens, closes, projects=2):
    """Window set and projects on the ballot, cycle under review."""
    cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at = "review", opens, closes
    made = [factory.project(cycle, f"项目{n}", 10_000 * (n + 1)) for n in range(projects)]
    db.session.commit()
    return made


# --- Next year's cycle ------------------------------------------------------------------------

def test_staff_open_next_years_cycle(finished, client, auth):
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["year"], body["phase"], body["fund"], body["community"], body["projects"]) == (
        2027, "collection", "200000.00", "ca", [])
    assert response.headers["Location"].endswith(f"/api/v1/cycles/{body['id']}")
    assert [c["year"] for c in client.get("/api/v1/communities/ca/cycles").get_json()] == [2026, 2027]
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027})
    assert response.status_code == 409 and error_code(response) == "cycle_exists"


def test_the_new_cycle_keeps_last_years_rules(finished, client, auth):
    finished.method, finished.max_choices, finished.outcome_rule = "knapsack", None, "mes"
    finished.voters, finished.min_turnout_percent = "households", 20
    finished.notice_days = 10
    db.session.commit()
    body = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027}).get_json()
    assert body["rules"] == {"method": "knapsack", "min_choices": 1, "max_choices": None, "points": None,
                             "threshold": None, "outcome_rule": "mes", "voters": "households",
                             "threshold_percent": None, "min_turnout_percent": 20, "notice_days": 10}


def test_the_district_admin_opens_cycles_and_may_set_the_fund(finished, client, auth):
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027, "fund": "250000"},
                    username="staff-ca")
    assert response.status_code == 403 and error_code(response) == "fund_set_by_admin"
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027, "fund": "250000"},
                    username="admin")
    assert response.status_code == 201 and response.get_json()["fund"] == "250000.00"


@pytest.mark.parametrize("body, status, code", [
    ({"year": 1999}, 422, "out_of_range"),
    ({"year": 2100}, 422, "out_of_range"),
    ({"year": 2025}, 422, "out_of_range"),  # before the latest cycle
    ({"year": "next"}, 422, "not_a_number"),
    ({"year": True}, 422, "not_a_number"),
    ({"year": 2027.0}, 422, "not_a_number"),
    ({}, 422, "missing_year"),
    ({"year": 2027, "fund": "0"}, 422, "bad_amount"),
    ({"year": 2027, "fund": "lots"}, 422, "bad_amount"),
    ({"year": 2026}, 409, "cycle_exists"),
])
def test_silly_years_and_funds_are_refused(finished, client, auth, body, status, code):
    before = cycle_count()
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", body, username="admin")
    assert response.status_code == status and error_code(response) == code
    assert cycle_count() == before


def test_no_new_cycle_while_this_years_is_still_running(world, client, auth):
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027})
    assert response.status_code == 409 and error_code(response) == "cycle_in_progress"


def test_staff_of_another_community_cannot_open_a_cycle(finished, client, auth):
    before = cycle_count()
    response = call(client, auth, "POST", "/api/v1/communities/ca/cycles", {"year": 2027}, "staff-cb")
    assert response.status_code == 403
    assert call(client, auth, "POST", "/api/v1/communities/zz/cycles", {"year": 2027}).status_code == 404
    assert cycle_count() == before


def test_open_next_years_cycle_from_the_page(finished, client, auth):
    auth.login("staff-ca")
    page = client.get(f"/cycles/{finished.id}/manage", headers=EN).get_data(as_text=True)
    assert "Open the 2027 cycle" in page
    response = client.post("/c/ca/cycles", data={"year": "2027"})
    assert response.status_code == 302
    cycle = db.session.scalar(select(Cycle).where(Cycle.year == 2027))
    assert cycle.phase == "collection" and response.headers["Location"].endswith(f"/cycles/{cycle.id}/manage")
    response = client.post("/c/ca/cycles", data={"year": "2027"}, headers=EN)
    assert response.status_code == 409 and "already open" in response.get_data(as_text=True)
    response = client.post("/c/ca/cycles", data={"year": "20x7"}, headers=EN)
    assert response.status_code == 422 and "whole number" in response.get_data(as_text=True)


# --- Phases -----------------------------------------------------------------------------------

def move(client, auth, cycle, phase, reason=None, username="staff-ca"):
    body = {"phase": phase} | ({"reason": reason} if reason is not None else {})
    return call(client, auth, "POST", f"/api/v1/cycles/{cycle.id}/phase", body, username)


def test_collection_moves_to_review(collecting, client, auth):
    response = move(client, auth, collecting, "review")
    assert response.status_code == 200 and response.get_json()["phase"] == "review"
    db.session.expire_all()
    assert collecting.review_started_at is not None


@pytest.mark.parametrize("target", ["voting", "results", "implementation", "closed", "collection"])
def test_phases_move_one_step_forward_only(collecting, client, auth, target):
    response = move(client, auth, collecting, target)
    assert response.status_code == 409 and error_code(response) == "phase_out_of_order"
    db.session.expire_all()
    assert collecting.phase == "collection"


def test_unknown_phases_and_bodies(collecting, client, auth):
    assert error_code(move(client, auth, collecting, "party")) == "unknown_phase"
    response = client.post(f"/api/v1/cycles/{collecting.id}/phase", data="x",
                           headers=auth.headers("staff-ca"))
    assert response.status_code == 400


def test_a_closed_cycle_stays_closed(world, client, auth):
    world.a.cycle.phase = "closed"
    db.session.commit()
    for phase in ("collection", "closed"):
        assert error_code(move(client, auth, world.a.cycle, phase)) == "phase_out_of_order"


def test_the_vote_needs_a_window_and_a_reviewed_ballot(collecting, factory, client, auth):
    move(client, auth, collecting, "review")
    response = move(client, auth, collecting, "voting")
    assert response.status_code == 409 and error_code(response) == "not_ready"
    message = response.get_json()["error"]["message"]
    assert "window" in message and "ballot" in message
    waiting = factory.project(collecting, "待审", 1000, status="submitted")
    collecting.voting_opens_at = utcnow() + timedelta(hours=1)
    collecting.voting_closes_at = utcnow() + timedelta(days=7)
    factory.project(collecting, "已上票", 1000)
    db.session.commit()
    response = move(client, auth, collecting, "voting")
    assert error_code(response) == "not_ready" and "await review" in response.get_json()["error"]["message"]
    waiting.status, waiting.review_reason = "rejected", "重复"
    db.session.commit()
    assert move(client, auth, collecting, "voting").status_code == 200


def test_the_rules_must_fit_the_ballot(collecting, factory, client, auth):
    now = utcnow()
    make_ready(factory, collecting, now + timedelta(hours=1), now + timedelta(days=3), projects=2)
    collecting.min_choices, collecting.max_choices = 3, 3
    db.session.commit()
    response = move(client, auth, collecting, "voting")
    assert response.status_code == 409 and "at least 3 choices" in response.get_json()["error"]["message"]


def test_voting_opens_at_its_set_time(collecting, factory, client, auth):
    now = utcnow()
    make_ready(factory, collecting, now + timedelta(minutes=10), now + timedelta(days=7))
    response = move(client, auth, collecting, "voting")
    assert response.status_code == 200 and response.get_json()["phase"] == "review"  # scheduled, not open yet
    assert error_code(move(client, auth, collecting, "voting")) == "voting_scheduled"
    assert error_code(move(client, auth, collecting, "results", "太早")) == "phase_out_of_order"
    db.session.expire_all()
    assert not collecting.is_voting_open(utcnow()) and collecting.is_voting_scheduled(utcnow())
    collecting.voting_opens_at = utcnow() - timedelta(seconds=1)  # the clock reaches the set time
    db.session.commit()
    assert client.get(f"/api/v1/cycles/{collecting.id}").get_json()["phase"] == "voting"
    db.session.expire_all()
    assert collecting.is_voting_open(utcnow())


def test_a_window_already_begun_opens_the_vote_at_once(collecting, factory, client, auth):
    now = utcnow()
    make_ready(factory, collecting, now - timedelta(hours=2), now + timedelta(days=7))
    response = move(client, auth, collecting, "voting")
    assert response.get_json()["phase"] == "voting"
    db.session.expire_all()
    assert collecting.voting_opens_at >= now  # the record says when it really opened


def test_voting_closes_at_its_set_time_and_the_cycle_moves_on(collecting, factory, client, auth):
    now = utcnow()
    make_ready(factory, collecting, now - timedelta(days=7), now - timedelta(seconds=1))
    collecting.phase = "voting"
    db.session.commit()
    assert client.get(f"/api/v1/cycles/{collecting.id}").get_json()["phase"] == "results"
    assert error_code(move(client, auth, collecting, "results", "x")) == "phase_out_of_order"
    assert error_code(move(client, auth, collecting, "implementation")) == "notice_period"  # 公示 first
    assert client.get(f"/api/v1/cycles/{collecting.id}/results").status_code == 200  # published
    db.session.rollback()
    db.session.get(Cycle, collecting.id).results_published_at -= timedelta(days=7)  # the notice has run
    db.session.commit()
    assert move(client, auth, collecting, "implementation").get_json()["phase"] == "implementation"
    # Archived only once each funded project is accepted, carried over or ended (here: ended). Nobody
    # voted, so the count funded nothing: one project is marked funded, as a vote would have.
    db.session.rollback()
    unvoted = db.session.scalars(select(Project).where(Project.cycle_id == collecting.id)).first()
    unvoted.status = "funded"
    db.session.commit()
    refused = move(client, auth, collecting, "closed")
    assert refused.status_code == 409 and error_code(refused) == "projects_open"
    funded = db.session.scalars(select(Project.id).where(Project.cycle_id == collecting.id,
                                                         Project.status == "funded")).all()
    assert funded
    for project_id in funded:
        assert call(client, auth, "POST", f"/api/v1/projects/{project_id}/end", {"reason": "改期"},
                    "staff-ca").status_code == 201
    assert move(client, auth, collecting, "closed").get_json()["phase"] == "closed"


def test_closing_early_needs_a_reason_that_is_published(world, client, auth):
    cycle = world.a.cycle
    for reason in (None, "", "  "):
        response = move(client, auth, cycle, "results", reason)
        assert response.status_code == 422 and error_code(response) == "reason_required"
    db.session.expire_all()
    assert cycle.current_phase(utcnow()) == "voting" and cycle.closed_early_reason is None
    response = move(client, auth, cycle, "results", "台风预警，经居民代表会议决定提前结束")
    assert response.status_code == 200
    assert response.get_json()["phase"] == "results"
    assert response.get_json()["closed_early_reason"] == "台风预警，经居民代表会议决定提前结束"
    db.session.expire_all()
    assert cycle.voting_closes_at <= utcnow() and not cycle.is_voting_open(utcnow())
    assert "台风预警" in client.get(f"/cycles/{cycle.id}").get_data(as_text=True)
    assert "台风预警" in client.get("/c/ca").get_data(as_text=True)


def test_only_staff_of_the_community_move_its_phase(collecting, client, auth):
    for username in ("staff-cb", "admin", "resident-ca-1", "grid-ca-1", "auditor"):
        assert move(client, auth, collecting, "review", username=username).status_code == 403, username
    db.session.expire_all()
    assert collecting.phase == "collection"


# --- Window -----------------------------------------------------------------------------------

def put_window(client, auth, cycle, opens, closes, username="staff-ca"):
    return call(client, auth, "PUT", f"/api/v1/cycles/{cycle.id}/window",
                {"voting_opens_at": opens, "voting_closes_at": closes}, username)


def test_set_the_window(collecting, client, auth):
    response = put_window(client, auth, collecting, "2027-05-01T01:00:00Z", "2027-05-08T12:00:00+08:00")
    assert response.status_code == 200
    assert (response.get_json()["voting_opens_at"], response.get_json()["voting_closes_at"]) == (
        "2027-05-01T01:00:00Z", "2027-05-08T04:00:00Z")


@pytest.mark.parametrize("opens, closes, code", [
    ("2027-05-08T00:00:00Z", "2027-05-01T00:00:00Z", "bad_window"),
    ("2027-05-01T00:00:00Z", "2027-05-01T00:00:00Z", "bad_window"),
    ("2020-05-01T00:00:00Z", "2020-05-08T00:00:00Z", "bad_window"),  # already over
    ("2027-05-01T09:00:00", "2027-05-08T09:00:00Z", "bad_time"),      # which zone?
    ("next monday", "2027-05-08T09:00:00Z", "bad_time"),
    (None, "2027-05-08T09:00:00Z", "missing_voting_opens_at"),
    ("2027-05-01T09:00:00Z", 1777777777, "missing_voting_closes_at"),
])
def test_bad_windows_change_nothing(collecting, client, auth, opens, closes, code):
    response = put_window(client, auth, collecting, opens, closes)
    assert response.status_code == 422 and error_code(response) == code
    db.session.expire_all()
    assert collecting.voting_opens_at is None and collecting.voting_closes_at is None


def test_the_window_cannot_change_once_voting_has_opened(world, client, auth):
    response = put_window(client, auth, world.a.cycle, iso(utcnow()), iso(utcnow() + timedelta(days=30)))
    assert response.status_code == 409 and error_code(response) == "voting_started"


def test_the_window_form_reads_beijing_time(collecting, client, auth):
    auth.login("staff-ca")
    response = client.post(f"/cycles/{collecting.id}/manage/window",
                           data={"voting_opens_at": "2027-05-01T09:00",
                                 "voting_closes_at": "2027-05-08T18:30"})
    assert response.status_code == 302
    db.session.expire_all()
    assert iso(collecting.voting_opens_at) == "2027-05-01T01:00:00Z"
    assert iso(collecting.voting_closes_at) == "2027-05-08T10:30:00Z"
    page = client.get(f"/cycles/{collecting.id}/manage").get_data(as_text=True)
    assert 'value="2027-05-01T09:00"' in page
    response = client.post(f"/cycles/{collecting.id}/manage/window", headers=EN,
                           data={"voting_opens_at": "2027-05-08T09:00",
                                 "voting_closes_at": "2027-05-01T09:00"})
    assert response.status_code == 422 and "close after it opens" in response.get_data(as_text=True)


# --- Rules ------------------------------------------------------------------------------------

RULES = {"method": "approval", "min_choices": 1, "max_choices": 3, "points": None, "threshold": None,
         "outcome_rule": "greedy", "voters": "adults",
         "threshold_percent": None, "min_turnout_percent": None, "notice_days": 7}


def put_rules(client, auth, cycle, rules, username="staff-ca"):
    return call(client, auth, "PUT", f"/api/v1/cycles/{cycle.id}/rules", rules, username)


@pytest.mark.parametrize("rules", [
    RULES,
    RULES | {"max_choices": None},
    RULES | {"method": "knapsack", "max_choices": None, "outcome_rule": "mes+greedy"},
    RULES | {"method": "cumulative", "points": 10, "max_choices": 5, "outcome_rule": "mes"},
    RULES | {"method": "choose_one", "max_choices": 1},
    RULES | {"outcome_rule": "greedy-threshold", "threshold": 20},
    RULES | {"outcome_rule": "greedy-no-skip", "min_choices": 0},
    RULES | {"voters": "households"},
    RULES | {"notice_days": 5},
    RULES | {"notice_days": 30},
    RULES | {"outcome_rule": "greedy-threshold", "threshold_percent": 10},
    RULES | {"min_turnout_percent": 30},
    RULES | {"outcome_rule": "mes", "min_turnout_percent": 100},
])
def test_consistent_rules_are_saved(collecting, client, auth, rules):
    response = put_rules(client, auth, collecting, rules)
    assert response.status_code == 200 and response.get_json()["rules"] == rules


@pytest.mark.parametrize("change, field_code", [
    ({"method": "borda"}, "unknown_method"),
    ({"outcome_rule": "lottery"}, "unknown_outcome_rule"),
    ({"voters": "everyone"}, "unknown_voters"),
    ({"min_choices": 4, "max_choices": 3}, "bad_rules"),
    ({"min_choices": -1}, "out_of_range"),
    ({"max_choices": 0}, "out_of_range"),
    ({"max_choices": "three"}, "not_a_number"),
    ({"points": 10}, "bad_rules"),                          # points only for cumulative
    ({"method": "cumulative"}, "bad_rules"),                # cumulative needs points
    ({"method": "cumulative", "points": 0}, "out_of_range"),
    ({"method": "choose_one", "max_choices": 3}, "bad_rules"),
    ({"outcome_rule": "greedy-threshold"}, "bad_rules"),    # needs its threshold
    ({"threshold": 5}, "bad_rules"),                        # threshold only for greedy-threshold
    ({"notice_days": 4}, "out_of_range"),                   # the public notice: 5 to 30 days
    ({"notice_days": 31}, "out_of_range"),
    ({"threshold_percent": 5}, "bad_rules"),                # a share too
    ({"outcome_rule": "greedy-threshold", "threshold": 5, "threshold_percent": 5}, "bad_rules"),  # not both
    ({"outcome_rule": "greedy-threshold", "threshold_percent": 0}, "out_of_range"),
    ({"outcome_rule": "greedy-threshold", "threshold_percent": 101}, "out_of_range"),
    ({"outcome_rule": "greedy-threshold", "threshold_percent": "10%"}, "not_a_number"),
    ({"min_turnout_percent": 0}, "out_of_range"),
    ({"min_turnout_percent": 101}, "out_of_range"),
    ({"min_turnout_percent": 2.5}, "not_a_number"),
])
def test_inconsistent_rules_change_nothing(collecting, client, auth, change, field_code):
    response = put_rules(client, auth, collecting, RULES | {"max_choices": 2} | change)
    assert response.status_code == 422 and error_code(response) == field_code
    db.session.expire_all()
    assert (collecting.method, collecting.max_choices, collecting.points) == ("approval", 3, None)
    assert (collecting.threshold_percent, collecting.min_turnout_percent) == (None, None)


def test_the_rules_are_frozen_once_a_ballot_is_cast(collecting, client, auth):
    collecting.rules_frozen_at = utcnow()
    db.session.commit()
    response = put_rules(client, auth, collecting, RULES | {"max_choices": 2})
    assert response.status_code == 409 and error_code(response) == "rules_frozen"


def test_the_rules_are_frozen_once_voting_has_opened(world, client, auth):
    response = put_rules(client, auth, world.a.cycle, RULES | {"max_choices": 2})
    assert response.status_code == 409 and error_code(response) == "rules_frozen"
    db.session.expire_all()
    assert world.a.cycle.max_choices == 3


def test_the_rules_may_change_while_the_vote_is_only_scheduled(collecting, factory, client, auth):
    now = utcnow()
    make_ready(factory, collecting, now + timedelta(days=1), now + timedelta(days=8), projects=3)
    assert move(client, auth, collecting, "voting").status_code == 200
    assert put_rules(client, auth, collecting, RULES | {"max_choices": 2}).status_code == 200
    response = put_rules(client, auth, collecting, RULES | {"min_choices": 4, "max_choices": 4})
    assert response.status_code == 409 and error_code(response) == "not_ready"


def test_the_rules_form(collecting, client, auth):
    auth.login("staff-ca")
    data = {"method": "cumulative", "min_choices": "1", "max_choices": "", "points": "10", "threshold": "",
            "outcome_rule": "greedy"}
    assert client.post(f"/cycles/{collecting.id}/manage/rules", data=data).status_code == 302
    db.session.expire_all()
    assert (collecting.method, collecting.points, collecting.max_choices) == ("cumulative", 10, None)
    response = client.post(f"/cycles/{collecting.id}/manage/rules", data=data | {"points": ""}, headers=EN)
    assert response.status_code == 422 and "needs the number of points" in response.get_data(as_text=True)


# --- Dashboard --------------------------------------------------------------------------------

def test_dashboard_shows_proposals_by_status_and_the_ballot(collecting, factory, world, client, auth):
    factory.project(collecting, "等待审核的建议", 1000, status="submitted",
                    submitted_by_id=world.a.residents[0].id)
    factory.project(collecting, "已上票的建议", 2000)
    factory.project(collecting, "被否决的建议", 3000, status="rejected", review_reason="不属于惠民资金范围")
    db.session.commit()
    auth.login("staff-ca")
    page = client.get(f"/cycles/{collecting.id}/manage", headers=EN).get_data(as_text=True)
    for text in ("Awaiting review", "等待审核的建议", "On the ballot", "已上票的建议", "Rejected",
                 "不属于惠民资金范围", "The ballot as residents will see it", "resident-ca-1",
                 "Stop collecting and start the review"):
        assert text in page, text


def test_dashboard_shows_turnout_but_never_running_results(world, client, auth):
    cycle = world.a.cycle
    for n, resident in enumerate(world.a.residents):
        db.session.add(RollEntry(cycle_id=cycle.id, resident_id=resident.resident_id, has_voted=n < 2,
                                 channel=("online", "assisted")[n] if n < 2 else None,
                                 worker_id=world.a.worker.id if n == 1 else None))  # an assisted one names its worker
    world.a.projects[0].votes = 12345  # even if some number were there, it must not show while voting
    db.session.commit()
    auth.login("staff-ca")
    page = client.get(f"/cycles/{cycle.id}/manage", headers=EN).get_data(as_text=True)
    assert "2 / 3" in page and "66.7%" in page and "online: 1" in page and "with a grid worker: 1" in page
    assert "12345" not in page and "12,345" not in page
    assert "Close voting before its set time" in page and f"/cycles/{cycle.id}/manage/close" in page
    assert "joined the register after voting opened" not in page  # zero is normal, and not shown


def test_residents_registered_after_opening_are_not_in_the_electorate(world, factory, client, auth):
    factory.resident(world.a.community, world.a.grid, "resident-ca-late",
                     registered_at=world.a.cycle.voting_opens_at + timedelta(hours=1))
    db.session.commit()
    auth.login("staff-ca")
    page = client.get(f"/cycles/{world.a.cycle.id}/manage", headers=EN).get_data(as_text=True)
    assert "0 / 3" in page
    assert "1 resident joined the register after voting opened" in page


def test_dashboard_for_the_admin_is_read_only_and_closed_to_other_staff(world, app, client, auth):
    auth.login("admin")
    page = client.get(f"/cycles/{world.a.cycle.id}/manage", headers=EN).get_data(as_text=True)
    assert "only the community's staff can change" in page and "Close voting now" not in page
    other = app.test_client()
    other.post("/login", data={"username": "staff-cb", "password": "Test-Pass-1"})
    assert other.get(f"/cycles/{world.a.cycle.id}/manage").status_code == 403
    assert other.get("/c/ca/manage").status_code == 403


def test_dashboard_phase_errors_are_shown_on_the_page(collecting, client, auth):
    collecting.phase = "review"
    db.session.commit()
    auth.login("staff-ca")
    response = client.post(f"/cycles/{collecting.id}/manage/phase", data={"phase": "voting"}, headers=EN)
    assert response.status_code == 409 and "Set the voting window first" in response.get_data(as_text=True)
    cycle_phase = db.session.get(Cycle, collecting.id)
    db.session.refresh(cycle_phase)
    assert cycle_phase.phase == "review"


# --- Done when: tried as a new user would ------------------------------------------------------

def test_a_year_from_opening_to_voting(finished, app, client, auth, tmp_path):
    """Staff open next year's cycle, two residents propose, staff put one on the ballot and reject
    the other, the resident sees why, and voting opens at its set time."""
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    staff, first, second = app.test_client(), app.test_client(), app.test_client()
    for browser, username in ((staff, "staff-ca"), (first, "resident-ca-1"), (second, "resident-ca-2")):
        response = browser.post("/login", data={"username": username, "password": "Test-Pass-1"})
        assert response.status_code == 302

    assert staff.post("/c/ca/cycles", data={"year": "2027"}).status_code == 302
    cycle = db.session.scalar(select(Cycle).where(Cycle.year == 2027))
    assert "/cycles/%d/propose" % cycle.id in first.get("/c/ca").get_data(as_text=True)

    proposals = {first: ("健身器材更新", "sports", "30000"), second: ("小区门口装监控", "other", "90000")}
    for browser, (title, category, cost) in proposals.items():
        response = browser.post(f"/cycles/{cycle.id}/propose", data={
            "title": title, "description": "居民反映多次", "category": category, "estimated_cost": cost})
        assert response.status_code == 302

    assert staff.post(f"/cycles/{cycle.id}/manage/phase", data={"phase": "review"}).status_code == 302
    dashboard = staff.get(f"/cycles/{cycle.id}/manage").get_data(as_text=True)
    assert "健身器材更新" in dashboard and "小区门口装监控" in dashboard
    ids = dict(db.session.execute(
        select(Project.title, Project.id).where(Project.cycle_id == cycle.id)
    ).all())
    kept, refused = ids["健身器材更新"], ids["小区门口装监控"]
    assert staff.post(f"/proposals/{kept}/review", data={f"p{kept}-decision": "ballot",
                                                         f"p{kept}-cost": "28000"}).status_code == 302
    response = staff.post(f"/proposals/{refused}/review", data={
        f"p{refused}-decision": "reject", f"p{refused}-reason": "公共区域监控由派出所统一建设"})
    assert response.status_code == 302

    mine = second.get("/my/proposals").get_data(as_text=True)
    assert "小区门口装监控" in mine and "公共区域监控由派出所统一建设" in mine
    assert "公共区域监控由派出所统一建设" in client.get(f"/cycles/{cycle.id}").get_data(as_text=True)

    # The window in Beijing time, opening a minute ago: setting it opens nothing by itself ...
    beijing = utcnow() + timedelta(hours=8)
    response = staff.post(f"/cycles/{cycle.id}/manage/window", data={
        "voting_opens_at": (beijing - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M"),
        "voting_closes_at": (beijing + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")})
    assert response.status_code == 302
    assert client.get(f"/api/v1/cycles/{cycle.id}").get_json()["phase"] == "review"
    # ... staff open the vote, and since its time has come, it is open (test_voting_opens_at_its_set_time
    # waits for a time still to come).
    assert staff.post(f"/cycles/{cycle.id}/manage/phase", data={"phase": "voting"}).status_code == 302
    body = client.get(f"/api/v1/cycles/{cycle.id}").get_json()
    assert body["phase"] == "voting"
    assert [(p["title"], p["cost"]) for p in body["projects"]] == [("健身器材更新", "28000.00")]
    assert "健身器材更新" in first.get("/c/ca").get_data(as_text=True)


def test_staff_actions_are_in_the_action_log(collecting, factory, world, client, auth):
    from voting.audit.services import entries

    project = factory.project(collecting, "待审", 1000, status="submitted")
    db.session.commit()
    move(client, auth, collecting, "review")
    review_body = {"decision": "reject", "reason": "重复建议"}
    call(client, auth, "POST", f"/api/v1/proposals/{project.id}/review", review_body)
    put_rules(client, auth, collecting, RULES)
    put_window(client, auth, collecting, "2027-05-01T01:00:00Z", "2027-05-08T01:00:00Z")
    logged = [(e.action, e.actor, e.community) for e in entries(db.session)]
    assert logged == [("cycle.phase", "staff-ca", "ca"), ("proposal.review", "staff-ca", "ca"),
                      ("cycle.rules", "staff-ca", "ca"), ("cycle.window", "staff-ca", "ca")]
    assert "重复建议" in list(entries(db.session))[1].detail


def test_implementation_starts_from_the_counted_result(world, client, auth):
    cycle = world.a.cycle
    cycle.voting_opens_at, cycle.voting_closes_at = utcnow() - timedelta(days=8), utcnow() - timedelta(days=1)
    db.session.commit()
    assert "/cycles/%d/results" % cycle.id in client.get(f"/cycles/{cycle.id}").get_data(as_text=True)
    # Nobody has looked yet: starting implementation would publish the result now, and its public
    # notice (公示) has not run, so it is refused and nothing is published.
    assert error_code(move(client, auth, cycle, "implementation")) == "notice_period"
    db.session.expire_all()
    assert cycle.results_published_at is None and {p.status for p in world.a.projects} == {"on_ballot"}
    assert client.get(f"/api/v1/cycles/{cycle.id}/results").status_code == 200
    db.session.expire_all()
    assert cycle.results_published_at is not None
    assert {p.status for p in world.a.projects} <= {"funded", "not_funded"}
    cycle.results_published_at -= timedelta(days=cycle.notice_days)
    db.session.commit()
    assert move(client, auth, cycle, "implementation").get_json()["phase"] == "implementation"


# --- The API's document and its refusals ------------------------------------------------------------

def _schema(document, reference):
    return document["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


def _body(document, path, method):
    return _schema(document, document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"])


def _answer(document, path, method, status="200"):
    return _schema(document, document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"])


def test_the_document_gives_the_cycle_routes_bodies_answers_and_enums(client):
    document = client.get("/api/v1/openapi.json").get_json()
    rules = _body(document, "/api/v1/cycles/{cycle_id}/rules", "put")
    assert rules["required"] == ["method", "outcome_rule"] and rules["additionalProperties"] is False
    assert rules["properties"]["method"]["enum"] == list(METHODS)
    assert rules["properties"]["outcome_rule"]["enum"] == list(OUTCOME_RULES)
    assert set(VOTERS) <= set(rules["properties"]["voters"]["enum"])
    assert rules["properties"]["notice_days"]["anyOf"][0]["minimum"] == 5 and rules["examples"]
    phase = _body(document, "/api/v1/cycles/{cycle_id}/phase", "post")
    assert phase["required"] == ["phase"] and phase["properties"]["phase"]["enum"] == [str(p) for p in Phase]
    window = _body(document, "/api/v1/cycles/{cycle_id}/window", "put")
    assert window["required"] == ["voting_opens_at", "voting_closes_at"]
    assert window["properties"]["voting_opens_at"]["format"] == "date-time"
    opening = _body(document, "/api/v1/communities/{code}/cycles", "post")
    assert opening["required"] == ["year"] and "fund" in opening["properties"]
    assert "409" in document["paths"]["/api/v1/communities/{code}/cycles"]["post"]["responses"]

    cycle = _answer(document, "/api/v1/cycles/{cycle_id}", "get")
    assert {"id", "community", "year", "fund", "phase", "voting_opens_at", "voting_closes_at", "rules",
            "projects"} <= set(cycle["required"])
    assert cycle["properties"]["phase"]["$ref"].endswith("/Phase")
    assert document["components"]["schemas"]["Phase"]["enum"] == [str(p) for p in Phase]
    answered_rules = document["components"]["schemas"]["Rules"]
    assert answered_rules["properties"]["method"]["enum"] == list(METHODS)
    assert answered_rules["properties"]["outcome_rule"]["enum"] == list(OUTCOME_RULES)
    project = document["components"]["schemas"]["BallotProject"]
    assert project["properties"]["category"]["enum"] == list(CATEGORIES)
    assert document["components"]["schemas"]["ProjectStatus"]["enum"] == [str(s) for s in ProjectStatus]
    preview = _answer(document, "/api/v1/cycles/{cycle_id}/close-preview", "get")
    assert {"turnout", "would_fund", "funds_nothing", "below_min_turnout", "projects"} <= set(preview["required"])
    assert {"401", "403", "404", "409"} <= set(document["paths"]["/api/v1/cycles/{cycle_id}/close-preview"]["get"]
                                               ["responses"])


def test_a_refused_rules_body_names_each_wrong_field(collecting, client, auth):
    response = put_rules(client, auth, collecting, RULES | {"method": "borda", "min_choices": -1, "colour": "red"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert {f["field"]: f["code"] for f in error["fields"]} == {
        "method": "unknown_method", "min_choices": "out_of_range", "colour": "unknown_field"}
    assert error["code"] == "unknown_method"
    db.session.expire_all()
    assert collecting.method == "approval"


def test_a_refused_window_names_both_times(collecting, client, auth):
    response = put_window(client, auth, collecting, "next monday", "2027-05-08T09:00:00")
    assert response.status_code == 422
    assert {f["field"]: f["code"] for f in response.get_json()["error"]["fields"]} == {
        "voting_opens_at": "bad_time", "voting_closes_at": "bad_time"}
