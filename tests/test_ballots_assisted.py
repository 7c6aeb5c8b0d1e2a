"""Assisted ballots: a grid worker records, at the door, the ballot of a resident of their own grid,
who confirms it with their own password or personal voting code; the resident sees it and can
change it online; staff, the district admin and auditors see how many ballots each worker entered,
by channel, counted from the voter roll (the ballot itself names no channel and no worker)."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from voting.accounts.models import User
from voting.accounts.services import hash_password
from voting.ballots.models import Ballot, RollEntry
from voting.residents.issuing import issue_voting_code
from voting.extensions import db

PASSWORD = "Test-Pass-1"


@pytest.fixture(autouse=True)
def english(client):
    """Pages in English, the source text (the Chinese catalogue is filled in later)."""
    client.set_cookie("lang", "en")


def assist_url(place, resident_user, step=""):
    return f"/cycles/{place.cycle.id}/assist/{resident_user.resident_id}{step}"


def record(client, place, resident_user, projects, credential=PASSWORD, request_id="r" * 20):
    return client.post(assist_url(place, resident_user, "/ballot"),
                       data={"projects": [str(p) for p in projects], "credential": credential,
                             "request_id": request_id})


def ballots(place):
    db.session.commit()
    return db.session.scalars(select(Ballot).where(Ballot.cycle_id == place.cycle.id).order_by(Ballot.seq)).all()


def test_the_worker_records_a_ballot_the_resident_confirms_with_their_password(world, client, auth):
    resident = world.a.residents[0]
    auth.login("grid-ca-1")
    listing = client.get(f"/cycles/{world.a.cycle.id}/assist").get_data(as_text=True)
    assert resident.resident.name in listing
    page = client.get(assist_url(world.a, resident))
    assert page.status_code == 200 and resident.resident.name in page.get_data(as_text=True)
    projects = [world.a.projects[0].id, world.a.projects[2].id]
    confirm = client.post(assist_url(world.a, resident, "/confirm"), data={"projects": [str(p) for p in projects]})
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and 'name="credential"' in text and world.a.projects[2].title in text
    request_id = re.search(r'name="request_id" type="hidden" value="([^"]+)"', text).group(1)

    done = record(client, world.a, resident, projects, request_id=request_id)
    assert done.status_code == 200, done.get_data(as_text=True)
    receipt = re.search(r'class="receipt-code"[^>]*>([0-9A-Z-]{14})<', done.get_data(as_text=True)).group(1)
    (ballot,) = ballots(world.a)
    assert ballot.receipt == receipt and not hasattr(ballot, "channel") and not hasattr(ballot, "worker_id")
    assert [c.project_id for c in ballot.choices] == projects
    # The receipt shown at the door carries the ballot's place in the chain, for the resident to keep.
    assert ballot.chain_hash in done.get_data(as_text=True) and "Keep these: they prove" in done.get_data(as_text=True)
    roll = db.session.scalar(select(RollEntry))
    assert roll.channel == "assisted" and roll.resident_id == resident.resident_id
    assert roll.worker_id == world.a.worker.id
    # A double submit of the same confirm page replays: still one ballot.
    assert record(client, world.a, resident, projects, request_id=request_id).status_code == 200
    assert len(ballots(world.a)) == 1


def test_the_resident_sees_the_assisted_ballot_and_changes_it_online(world, client, auth):
    resident = world.a.residents[0]
    auth.login("grid-ca-1")
    record(client, world.a, resident, [world.a.projects[1].id])
    auth.logout()
    auth.login("resident-ca-1")
    page = client.get(f"/cycles/{world.a.cycle.id}/my-ballot").get_data(as_text=True)
    assert "grid-ca-1" in page and world.a.projects[1].title in page
    headers = auth.headers("resident-ca-1")
    api = client.get(f"/api/v1/cycles/{world.a.cycle.id}/ballot", headers=headers).get_json()
    # the resident's own view says how it came (from the roll), never by whom in the API
    assert api["projects"] == [world.a.projects[1].id] and api["channel"] == "assisted" and "worker" not in api
    revised = client.put(f"/api/v1/cycles/{world.a.cycle.id}/ballot", json={"projects": [world.a.projects[3].id]},
                         headers=headers)
    assert revised.status_code == 200 and revised.get_json()["version"] == 2
    rows = ballots(world.a)
    assert [(b.version, b.is_current) for b in rows] == [(1, False), (2, True)]
    roll = db.session.scalar(select(RollEntry))  # the roll says how the latest ballot came: online, no worker
    assert (roll.channel, roll.worker_id) == ("online", None)
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/ballot", headers=headers).get_json()["channel"] == "online"


def test_a_personal_voting_code_confirms_and_a_new_code_replaces_it(world, client, auth):
    resident = world.a.residents[1]
    old_code = issue_voting_code(db.session, resident.resident)
    new_code = issue_voting_code(db.session, resident.resident)
    db.session.commit()
    assert re.fullmatch(r"\d{4} \d{4} \d{4}", new_code)
    assert new_code.replace(" ", "") not in resident.resident.voting_code_hash
    auth.login("grid-ca-1")
    assert record(client, world.a, resident, [world.a.projects[0].id], credential=old_code).status_code == 403
    assert ballots(world.a) == []
    assert record(client, world.a, resident, [world.a.projects[0].id],
                  credential=new_code.replace(" ", "-")).status_code == 200
    assert len(ballots(world.a)) == 1


@pytest.mark.parametrize("credential", ["wrong-Pass-2", "0000 0000 0000"])
def test_a_wrong_credential_records_nothing(world, client, auth, credential):
    issue_voting_code(db.session, world.a.residents[0].resident)
    db.session.commit()
    auth.login("grid-ca-1")
    response = record(client, world.a, world.a.residents[0], [world.a.projects[0].id], credential=credential)
    assert response.status_code == 403
    text = response.get_data(as_text=True)
    assert "voting code" in text
    assert ballots(world.a) == [] and db.session.scalar(select(RollEntry)) is None


def test_another_residents_password_does_not_confirm(world, client, auth):
    auth.login("grid-ca-1")
    other = world.a.residents[1]
    other.password_hash = hash_password("Other-Pass-9")
    db.session.commit()
    assert record(client, world.a, world.a.residents[0], [world.a.projects[0].id],
                  credential="Other-Pass-9").status_code == 403


def test_a_worker_of_another_grid_is_refused(world, client, auth, factory):
    second_grid = factory.grid(world.a.community, 2)
    neighbour = factory.resident(world.a.community, second_grid, "resident-ca-g2")
    db.session.commit()
    auth.login("grid-ca-1")
    for step in ("", "/confirm"):
        assert client.post(assist_url(world.a, neighbour, step), data={"projects": [str(world.a.projects[0].id)]}) \
            .status_code == 403
    assert record(client, world.a, neighbour, [world.a.projects[0].id]).status_code == 403
    auth.logout()
    auth.login("grid-cb-1")
    assert record(client, world.a, world.a.residents[0], [world.a.projects[0].id]).status_code == 403
    assert ballots(world.a) == []


def test_a_moved_resident_cannot_be_assisted(world, client, auth):
    world.a.residents[0].resident.status = "moved"
    db.session.commit()
    auth.login("grid-ca-1")
    assert record(client, world.a, world.a.residents[0], [world.a.projects[0].id]).status_code == 403
    assert world.a.residents[0].resident.name not in client.get(f"/cycles/{world.a.cycle.id}/assist").get_data(
        as_text=True)


def test_rule_breaking_assisted_choices_are_shown_again(world, client, auth):
    auth.login("grid-ca-1")
    response = record(client, world.a, world.a.residents[0], [p.id for p in world.a.projects])
    assert response.status_code == 422 and ballots(world.a) == []
    assert "choose at most 3" in response.get_data(as_text=True)


def test_only_grid_workers_record_assisted_ballots(world, client, auth):
    for username in ("resident-ca-2", "staff-ca"):
        auth.login(username)
        assert record(client, world.a, world.a.residents[0], [world.a.projects[0].id]).status_code == 403
        auth.logout()


@pytest.mark.parametrize("username", ["staff-ca", "admin", "auditor"])
def test_ballots_per_worker_and_channel_from_the_roll(world, client, auth, factory, username):
    """Two workers; resident 1 assisted twice (counts once: the roll has one entry a resident), resident
    2 assisted, then revised online (no longer the worker's), resident 3 assisted by the second
    worker; an online voter counts for no one."""
    place = world.a
    extra = factory.resident(place.community, place.grid, "resident-ca-9")
    factory.user("grid-ca-9", "grid_worker", place.community, place.grid)
    db.session.commit()
    auth.login("grid-ca-1")
    record(client, place, place.residents[0], [place.projects[0].id])
    record(client, place, place.residents[0], [place.projects[2].id], request_id="t" * 20)
    record(client, place, place.residents[1], [place.projects[1].id], request_id="s" * 20)
    auth.logout()
    auth.login("grid-ca-9")
    record(client, place, extra, [place.projects[1].id], request_id="u" * 20)
    auth.logout()
    online = client.put(f"/api/v1/cycles/{place.cycle.id}/ballot", json={"projects": [place.projects[3].id]},
                        headers=auth.headers("resident-ca-2"))
    assert online.status_code == 200
    assert client.put(f"/api/v1/cycles/{place.cycle.id}/ballot", json={"projects": [place.projects[3].id]},
                      headers=auth.headers("resident-ca-3")).status_code == 200
    # Paper: a roll entry as the paper path leaves it (entered by staff), counted by channel.
    paper_resident = factory.resident(place.community, place.grid, "resident-ca-8").resident
    staff = db.session.scalar(select(User).where(User.username == "staff-ca"))
    db.session.add(RollEntry(cycle_id=place.cycle.id, resident_id=paper_resident.id, has_voted=True,
                             channel="paper", worker_id=staff.id))
    db.session.commit()

    auth.login(username)
    api = client.get(f"/api/v1/cycles/{place.cycle.id}/assisted", headers=auth.headers(username))
    assert api.status_code == 200
    assert api.get_json() == [{"worker": "grid-ca-1", "channel": "assisted", "ballots": 1},
                              {"worker": "grid-ca-9", "channel": "assisted", "ballots": 1},
                              {"worker": "staff-ca", "channel": "paper", "ballots": 1}]
    page = client.get(f"/cycles/{place.cycle.id}/assisted")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    cells = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>(\d+)</td></tr>", text)
    assert cells == [("grid-ca-1", "with a grid worker", "1"), ("grid-ca-9", "with a grid worker", "1"),
                     ("staff-ca", "on paper", "1")]
    for resident in (*place.residents, extra):
        assert resident.resident.name not in text
    assert not any(project.title in text for project in place.projects)


def test_no_worker_count_before_any_worker_entered_a_ballot(world, client, auth):
    auth.login("staff-ca")
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/assisted", headers=auth.headers("staff-ca")).get_json() == []
    page = client.get(f"/cycles/{world.a.cycle.id}/assisted").get_data(as_text=True)
    assert "No worker has entered a ballot yet." in page


@pytest.mark.parametrize("username", ["staff-cb", "grid-ca-1", "resident-ca-1"])
def test_assisted_counts_are_not_for_others(world, client, auth, username):
    auth.login(username)
    assert client.get(f"/cycles/{world.a.cycle.id}/assisted").status_code == 403
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/assisted",
                      headers=auth.headers(username)).status_code == 403


@pytest.fixture()
def limited_client(database_url, world):
    """A client of an app with rate limits on (memory storage)."""
    from voting.app import create_app

    limited = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                          "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://"})
    db.session.commit()
    client = limited.test_client()
    client.set_cookie("lang", "en")
    yield client
    with limited.app_context():
        db.engine.dispose()


def test_wrong_credentials_are_rate_limited_per_worker(world, limited_client):
    limited_client.post("/login", data={"username": "grid-ca-1", "password": PASSWORD})
    statuses = [record(limited_client, world.a, world.a.residents[0], [world.a.projects[0].id],
                       credential=f"guess-{n}").status_code for n in range(7)]
    assert statuses == [403] * 5 + [429] * 2
    assert ballots(world.a) == []


def test_recorded_ballots_do_not_use_up_the_limit(world, limited_client):
    limited_client.post("/login", data={"username": "grid-ca-1", "password": PASSWORD})
    statuses = {record(limited_client, world.a, world.a.residents[n % 3], [world.a.projects[0].id],
                       request_id=f"{n:020d}").status_code for n in range(8)}
    assert statuses == {200} and len(ballots(world.a)) == 8
