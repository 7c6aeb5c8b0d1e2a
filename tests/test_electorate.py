"""Who may vote: the electorate fixed when voting opens (a move, a death, a new address or a new
community registered while the vote is open changes nothing for it), 18 or over on the opening day,
and one vote per household, enforced by the database."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import generate_password_hash

from voting.ballots.models import Ballot, RollEntry
from voting.cycles.electorate import electorate_size, in_electorate, opening_day
from voting.cycles.services import turnout
from voting.database import utcnow
from voting.extensions import db
from voting.residents.models import Resident, ResidentHistory
from voting.residents.services import change_facts, household_key, set_resident_status

CODE = "1234 5678 9012"


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def put(client, headers, place, projects):
    return client.put(f"/api/v1/cycles/{place.cycle.id}/ballot", json={"projects": projects}, headers=headers)


def electorate(place) -> set[int]:
    db.session.expire_all()
    return set(db.session.scalars(select(Resident.id).where(in_electorate(place.cycle))))


def refusal(response) -> tuple[int, str]:
    return response.status_code, response.get_json()["error"]["code"]


# --- the electorate fixed at opening ---------------------------------------------------------------

def test_a_resident_who_moves_during_the_vote_stays_in_its_electorate_and_may_vote(world, client, auth):
    a = world.a
    mover = a.residents[0].resident
    before = electorate(a)
    set_resident_status(db.session, a.staff, a.community, mover.id, "moved", utcnow())
    db.session.commit()
    assert electorate(a) == before and mover.id in before
    assert turnout(db.session, a.cycle).eligible == 3
    # the electorate is fixed at opening: who moved since still votes in this vote
    response = put(client, auth.headers("resident-ca-1"), a, [a.projects[0].id])
    assert response.status_code == 200, response.get_json()
    # the next vote, opened after the move, no longer counts them
    a.cycle.voting_opens_at = utcnow()
    db.session.commit()
    assert mover.id not in electorate(a)


def test_a_move_before_the_opening_leaves_the_electorate(world, client, auth):
    a = world.a
    a.cycle.voting_opens_at = utcnow() + timedelta(hours=1)  # scheduled, not open yet
    db.session.commit()
    set_resident_status(db.session, a.staff, a.community, a.residents[0].resident_id, "moved", utcnow())
    db.session.commit()
    assert a.residents[0].resident_id not in electorate(a)


def test_a_resident_who_dies_during_the_vote_stays_counted_but_no_ballot_is_recorded(world, client, auth):
    a = world.a
    set_resident_status(db.session, a.staff, a.community, a.residents[1].resident_id, "deceased", utcnow())
    db.session.commit()
    assert a.residents[1].resident_id in electorate(a) and electorate_size(db.session, a.cycle) == 3
    assert refusal(put(client, auth.headers("resident-ca-2"), a, [a.projects[0].id])) == (403, "not_eligible")


def test_a_new_address_or_community_during_the_vote_changes_nothing_for_it(world, factory):
    a, b = world.a, world.b
    mover = a.residents[0].resident
    before_a, before_b = electorate(a), electorate(b)
    now, community_b, grid_b = utcnow(), b.community.id, b.grid.id
    change_facts(db.session, mover, now, status="moved")  # marked moved in a, then moves in to b
    with db.session.no_autoflush:
        mover.grid_id, mover.address = grid_b, "新地址1栋"
    change_facts(db.session, mover, now, community_id=community_b, status="active",
                 household=household_key("test", community_b, "新地址1栋"))
    db.session.commit()
    assert electorate(a) == before_a and electorate(b) == before_b  # not in b's vote, still in a's
    assert db.session.scalar(select(func.count()).select_from(ResidentHistory)) == 2


def test_a_move_between_communities_during_the_vote_is_refused_in_the_new_one(world, client, auth):
    a, b = world.a, world.b
    mover = a.residents[0].resident
    now, community_b, grid_b = utcnow(), b.community.id, b.grid.id
    change_facts(db.session, mover, now, status="moved")
    with db.session.no_autoflush:
        mover.grid_id = grid_b
    change_facts(db.session, mover, now, community_id=community_b, status="active")
    db.session.commit()
    headers = auth.headers("resident-ca-1")
    response = put(client, headers, b, [b.projects[0].id])
    assert refusal(response) == (403, "not_eligible") and "after this vote opened" in response.get_json()[
        "error"]["message"]
    assert put(client, headers, a, [a.projects[0].id]).status_code == 200  # still of a's electorate


def test_a_resident_added_after_the_opening_is_refused(world, client, auth, factory):
    a = world.a
    factory.resident(a.community, a.grid, "late", registered_at=utcnow())
    db.session.commit()
    response = put(client, auth.headers("late"), a, [a.projects[0].id])
    assert refusal(response) == (403, "not_eligible") and "after this vote opened" in response.get_json()[
        "error"]["message"]


# --- 18 or over on the opening day ---------------------------------------------------------------

@pytest.fixture()
def minor(world, factory):
    """A resident of ca who turns 18 the day after the vote opened."""
    day = opening_day(world.a.cycle.window) + timedelta(days=1)
    user = factory.resident(world.a.community, world.a.grid, "minor", adult_on=day)
    db.session.commit()
    return user


def test_a_minor_is_refused_through_the_api(world, client, auth, minor):
    response = put(client, auth.headers("minor"), world.a, [world.a.projects[0].id])
    assert refusal(response) == (403, "not_eligible")
    assert "18" in response.get_json()["error"]["message"]
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0
    assert minor.resident_id not in electorate(world.a) and electorate_size(db.session, world.a.cycle) == 3


def test_a_minor_is_refused_on_the_assisted_ballot(world, client, auth, minor):
    minor.resident.voting_code_hash = generate_password_hash(re.sub(r"\D", "", CODE))
    db.session.commit()
    auth.login("grid-ca-1")
    response = client.post(f"/cycles/{world.a.cycle.id}/assist/{minor.resident_id}/ballot",
                           data={"projects": [str(world.a.projects[0].id)], "credential": CODE,
                                 "request_id": "r" * 20})
    assert response.status_code == 403 and "18" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Ballot)) == 0


def test_eighteen_on_the_opening_day_is_enough(world, client, auth, factory):
    factory.resident(world.a.community, world.a.grid, "adult", adult_on=opening_day(world.a.cycle.window))
    db.session.commit()
    assert put(client, auth.headers("adult"), world.a, [world.a.projects[0].id]).status_code == 200


# --- one vote per household ------------------------------------------------------------------------

@pytest.fixture()
def household(world, factory):
    """Two residents of ca at one address (written a little differently), in a vote of one per household."""
    world.a.cycle.voters = "households"
    first = factory.resident(world.a.community, world.a.grid, "home-1", address="8栋 301")
    second = factory.resident(world.a.community, world.a.grid, "home-2", address="8栋３０１")
    db.session.commit()
    assert first.resident.household == second.resident.household
    return first, second


def test_the_second_member_of_a_household_is_refused_and_the_first_may_revise(world, client, auth, household):
    a = world.a
    first, second = (auth.headers(u.username) for u in household)
    assert put(client, first, a, [a.projects[0].id]).status_code == 200
    response = put(client, second, a, [a.projects[1].id])
    assert refusal(response) == (409, "household_voted")
    assert "household has already voted" in response.get_json()["error"]["message"]
    revised = put(client, first, a, [a.projects[2].id])
    assert revised.status_code == 200 and revised.get_json()["version"] == 2
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Ballot).where(Ballot.is_current)) == 1
    (entry,) = db.session.scalars(select(RollEntry).where(RollEntry.household.is_not(None))).all()
    assert entry.resident_id == household[0].resident_id and "301" not in entry.household
    # another household votes as usual; the turnout counts households (3 others + this one)
    assert put(client, auth.headers("resident-ca-1"), a, [a.projects[0].id]).status_code == 200
    assert turnout(db.session, a.cycle).eligible == 4


def test_the_household_rule_does_not_apply_to_a_vote_of_every_adult(world, client, auth, household):
    world.a.cycle.voters = "adults"
    db.session.commit()
    for user in household:
        assert put(client, auth.headers(user.username), world.a, [world.a.projects[0].id]).status_code == 200
    assert db.session.scalar(select(func.count()).select_from(RollEntry).where(RollEntry.household.is_not(None))) == 0


def test_the_database_refuses_a_second_roll_entry_of_a_household(world, household):
    rows = [{"cycle_id": world.a.cycle.id, "resident_id": user.resident_id, "has_voted": False,
             "household": user.resident.household} for user in household]
    db.session.execute(insert(RollEntry.__table__).values(rows[0]))
    with pytest.raises(IntegrityError):
        db.session.execute(insert(RollEntry.__table__).values(rows[1]))
    db.session.rollback()
    # without a household (any other vote) two entries are fine
    db.session.execute(insert(RollEntry.__table__).values([r | {"household": None} for r in rows]))
    db.session.execute(delete(RollEntry.__table__))
    db.session.commit()


def test_the_household_rule_is_frozen_and_shown(world, client, auth, household):
    a = world.a
    auth.login("home-1")
    page = client.get(f"/cycles/{a.cycle.id}/vote").get_data(as_text=True)
    assert "One vote per household" in page
    assert "One vote per household" in client.get(f"/cycles/{a.cycle.id}").get_data(as_text=True)
    api = client.get(f"/api/v1/cycles/{a.cycle.id}").get_json()
    assert api["rules"]["voters"] == "households"
    assert put(client, auth.headers("home-1"), a, [a.projects[0].id]).status_code == 200
    db.session.expire_all()
    assert db.session.get(type(a.cycle), a.cycle.id).rules_frozen_at is not None


def test_a_household_that_moves_during_the_vote_keeps_its_household_for_it(world, client, auth, household):
    a = world.a
    first, second = household
    assert put(client, auth.headers("home-1"), a, [a.projects[0].id]).status_code == 200
    # the second member gets a new address while the vote is open: still the same household for it
    second.resident.address = "9栋101"
    change_facts(db.session, second.resident, utcnow(), household=household_key("test", a.community.id, "9栋101"))
    db.session.commit()
    assert refusal(put(client, auth.headers("home-2"), a, [a.projects[1].id])) == (409, "household_voted")


def test_a_second_household_member_is_refused_on_the_assisted_ballot(world, client, auth, household):
    a = world.a
    assert put(client, auth.headers("home-1"), a, [a.projects[0].id]).status_code == 200
    second = household[1].resident
    second.voting_code_hash = generate_password_hash(re.sub(r"\D", "", CODE))
    db.session.commit()
    auth.login("grid-ca-1")
    response = client.post(f"/cycles/{a.cycle.id}/assist/{second.id}/ballot",
                           data={"projects": [str(a.projects[1].id)], "credential": CODE, "request_id": "s" * 20})
    assert response.status_code == 409 and "household has already voted" in response.get_data(as_text=True)


def test_an_adult_on_date_is_what_the_rule_needs(world):
    from voting.residents.services import adult_on, birth_date

    assert birth_date("11010519491231002X") == date(1949, 12, 31)
    assert adult_on(date(2010, 5, 4), date(2026, 1, 1)) == date(2028, 5, 4)
    assert adult_on(date(2000, 5, 4), date(2026, 1, 1)) is None  # of age when registered: nothing kept
    assert adult_on(date(2008, 2, 29), date(2025, 1, 1)) == date(2026, 3, 1)
