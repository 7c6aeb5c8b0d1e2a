"""Getting out the vote: turnout per grid (staff, admin) and the door-to-door list of a grid worker's
residents who have not voted yet. Who has voted, never how; every view is in the action log."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from voting.audit.models import ActionLogEntry
from voting.database import utcnow
from voting.extensions import db

ACTORS = {
    "anonymous": None, "resident": "resident-ca-1", "resident_other": "resident-cb-1",
    "grid": "grid-ca-1", "grid_other": "grid-cb-1", "staff": "staff-ca", "staff_other": "staff-cb",
    "admin": "admin", "auditor": "auditor",
}
#                anonymous resident res_other grid grid_other staff staff_other admin auditor
ROUTES = {
    "turnout": ("/cycles/{cycle}/turnout", (302, 403, 403, 403, 403, 200, 403, 200, 403)),
    "doors": ("/cycles/{cycle}/doors", (302, 403, 403, 200, 403, 403, 403, 403, 403)),
}


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def logged(action: str) -> list[ActionLogEntry]:
    db.session.commit()
    return db.session.scalars(select(ActionLogEntry).where(ActionLogEntry.action == action)).all()


def vote(client, auth, username, cycle, project):
    response = client.put(f"/api/v1/cycles/{cycle.id}/ballot", json={"projects": [project.id]},
                          headers=auth.headers(username))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("name", list(ROUTES))
def test_who_may_see(world, client, auth, name, actor):
    path, expected = ROUTES[name]
    if ACTORS[actor]:
        auth.login(ACTORS[actor])
    before = len(logged(f"mobilise.view_{name}"))
    response = client.get(path.format(cycle=world.a.cycle.id))
    assert response.status_code == expected[list(ACTORS).index(actor)], response.get_data(as_text=True)[:300]
    assert len(logged(f"mobilise.view_{name}")) == before + (1 if response.status_code == 200 else 0)


def test_turnout_per_grid(world, factory, client, auth):
    a = world.a
    second = factory.grid(a.community, 2)
    factory.resident(a.community, second, "resident-ca-9")
    factory.resident(a.community, second, "resident-ca-10", status="moved")  # not counted
    db.session.commit()
    vote(client, auth, "resident-ca-1", a.cycle, a.projects[0])
    vote(client, auth, "resident-ca-9", a.cycle, a.projects[1])
    vote(client, auth, "resident-ca-9", a.cycle, a.projects[2])  # a changed vote is one voter
    auth.login("staff-ca")
    text = client.get(f"/cycles/{a.cycle.id}/turnout").get_data(as_text=True)
    assert "2 / 4" in text  # the community
    assert "1 / 3" in text and "1 / 1" in text  # grid 1, grid 2
    for project in a.projects:  # never how
        assert project.title not in text
    entry = logged("mobilise.view_turnout")[-1]
    assert entry.actor == "staff-ca" and entry.community == "ca"


def test_turnout_before_voting_opens_is_refused(world, factory, client, auth):
    later = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    auth.login("staff-ca")
    assert client.get(f"/cycles/{later.id}/turnout").status_code == 409
    assert logged("mobilise.view_turnout") == []


def test_doors_list_who_has_not_voted_by_address(world, client, auth):
    a = world.a
    vote(client, auth, "resident-ca-2", a.cycle, a.projects[0])
    auth.login("grid-ca-1")
    page = client.get(f"/cycles/{a.cycle.id}/doors")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    voted = a.residents[1].resident
    waiting = [u.resident for u in (a.residents[0], a.residents[2])]
    assert voted.name not in text
    for person in waiting:
        assert person.name in text and person.address in text
        assert f"/cycles/{a.cycle.id}/assist/{person.id}" in text
    assert text.index(waiting[0].address) < text.index(waiting[1].address)
    assert "1 / 3" in text
    for project in a.projects:
        assert project.title not in text
    entry = logged("mobilise.view_doors")[-1]
    assert entry.actor == "grid-ca-1" and '"listed":2' in entry.detail.replace(" ", "")


def test_doors_only_while_voting_is_open(world, client, auth):
    world.a.cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    auth.login("grid-ca-1")
    response = client.get(f"/cycles/{world.a.cycle.id}/doors")
    assert response.status_code == 409
    assert world.a.residents[0].resident.name not in response.get_data(as_text=True)
    assert logged("mobilise.view_doors") == []


def test_a_grid_worker_sees_only_the_own_grid(world, factory, client, auth):
    a = world.a
    second = factory.grid(a.community, 2)
    neighbour = factory.resident(a.community, second, "resident-ca-9").resident
    db.session.commit()
    auth.login("grid-ca-1")
    text = client.get(f"/cycles/{a.cycle.id}/doors").get_data(as_text=True)
    assert neighbour.name not in text
    assert db.session.scalar(select(func.count(ActionLogEntry.seq))) == 1


def test_doors_come_in_address_order(world, client, auth):
    for user, address in zip(world.a.residents, ("10栋1单元", "2栋3单元", "2栋1单元")):
        user.resident.address = address
    db.session.commit()
    auth.login("grid-ca-1")
    text = client.get(f"/cycles/{world.a.cycle.id}/doors").get_data(as_text=True)
    assert text.index("2栋1单元") < text.index("2栋3单元") < text.index("10栋1单元")
