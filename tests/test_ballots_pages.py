"""The voting pages as a resident uses them without JavaScript: choose, confirm, receipt, change;
refusals explained on the page; the public receipt check; no inline script (strict CSP ahead)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from voting.ballots.models import Ballot
from voting.database import utcnow
from voting.extensions import db


@pytest.fixture(autouse=True)
def english(client):
    """Pages in English, the source text (the Chinese catalogue is filled in later)."""
    client.set_cookie("lang", "en")


def ballots(place):
    db.session.commit()
    return db.session.scalars(select(Ballot).where(Ballot.cycle_id == place.cycle.id).order_by(Ballot.seq)).all()


def chosen(place, *numbers):
    return {"projects": [str(place.projects[n].id) for n in numbers]}


def test_vote_confirm_receipt_and_change(world, client, auth):
    a = world.a
    auth.login("resident-ca-1")
    community = client.get("/c/ca").get_data(as_text=True)
    assert f"/cycles/{a.cycle.id}/vote" in community

    page = client.get(f"/cycles/{a.cycle.id}/vote")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for project in a.projects:
        assert project.title in text and f'value="{project.id}"' in text
    assert "Choose 1 to 3 projects." in text and "200,000" in text
    assert "<progress" not in text  # an approval ballot: the cost against the fund is no rule of it

    confirm = client.post(f"/cycles/{a.cycle.id}/vote/confirm", data=chosen(a, 0, 3))
    text = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Check your choices" in text
    assert a.projects[0].title in text and a.projects[1].title not in text
    assert "110,000" in text  # 80,000 + 30,000
    assert ballots(a) == []  # nothing is cast before the confirm
    request_id = re.search(r'name="request_id" type="hidden" value="([^"]+)"', text).group(1)

    cast = client.post(f"/cycles/{a.cycle.id}/ballot", data=chosen(a, 0, 3) | {"request_id": request_id})
    assert cast.status_code == 302 and cast.headers["Location"].endswith(f"/cycles/{a.cycle.id}/my-ballot")
    receipt_page = client.get(cast.headers["Location"]).get_data(as_text=True)
    (ballot,) = ballots(a)
    assert ballot.receipt in receipt_page and "<svg" in receipt_page and f"/receipts/{ballot.receipt}" in receipt_page
    assert "Change my vote" in receipt_page

    # Pressing "Cast my vote" twice (same confirm page) records one ballot.
    again = client.post(f"/cycles/{a.cycle.id}/ballot", data=chosen(a, 0, 3) | {"request_id": request_id})
    assert again.status_code == 302 and len(ballots(a)) == 1

    # Change my vote: the form comes back with the current choices ticked.
    form = client.get(f"/cycles/{a.cycle.id}/vote").get_data(as_text=True)
    assert "You voted on" in form
    assert re.search(rf'value="{a.projects[0].id}" data-cost="\d+" checked', form)
    client.post(f"/cycles/{a.cycle.id}/ballot", data=chosen(a, 1))
    rows = ballots(a)
    assert [(b.version, b.is_current) for b in rows] == [(1, False), (2, True)]
    assert "version 2" in client.get(f"/cycles/{a.cycle.id}/my-ballot").get_data(as_text=True)


def test_back_from_confirm_keeps_the_choices(world, client, auth):
    auth.login("resident-ca-1")
    page = client.post(f"/cycles/{world.a.cycle.id}/vote", data=chosen(world.a, 2)).get_data(as_text=True)
    assert re.search(rf'value="{world.a.projects[2].id}" data-cost="\d+" checked', page)
    assert not re.search(rf'value="{world.a.projects[1].id}" data-cost="\d+" checked', page)


@pytest.mark.parametrize("data, message", [
    (lambda a: chosen(a, 0, 1, 2, 3), "choose at most 3"),
    (lambda a: {"projects": []}, "choose at least 1"),
    (lambda a: {"projects": ["999999"]}, "is not on this ballot"),
])
def test_refusals_are_explained_and_change_nothing(world, client, auth, data, message):
    auth.login("resident-ca-1")
    client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 0))
    for url in (f"/cycles/{world.a.cycle.id}/vote/confirm", f"/cycles/{world.a.cycle.id}/ballot"):
        response = client.post(url, data=data(world.a))
        assert response.status_code == 422
        text = response.get_data(as_text=True)
        assert message in text and 'role="alert"' in text and "<form" in text
    assert [(b.version, b.is_current) for b in ballots(world.a)] == [(1, True)]


def test_knapsack_page_shows_the_budget_and_refuses_over_it(world, client, auth):
    world.a.cycle.method, world.a.cycle.max_choices = "knapsack", None
    db.session.commit()
    auth.login("resident-ca-1")
    text = client.get(f"/cycles/{world.a.cycle.id}/vote").get_data(as_text=True)
    assert "may cost at most the fund" in text
    response = client.post(f"/cycles/{world.a.cycle.id}/vote/confirm", data=chosen(world.a, 0, 1, 2, 3))
    assert response.status_code == 422 and "more than the fund" in response.get_data(as_text=True)
    assert "Over the fund" in response.get_data(as_text=True)  # the running total says so too


def test_cumulative_page_takes_points(world, client, auth):
    world.a.cycle.method, world.a.cycle.points, world.a.cycle.max_choices = "cumulative", 5, None
    db.session.commit()
    auth.login("resident-ca-1")
    text = client.get(f"/cycles/{world.a.cycle.id}/vote").get_data(as_text=True)
    assert f'name="points-{world.a.projects[0].id}"' in text and "You have 5 points" in text
    data = {f"points-{world.a.projects[0].id}": "3", f"points-{world.a.projects[1].id}": "2",
            f"points-{world.a.projects[2].id}": "0"}
    assert client.post(f"/cycles/{world.a.cycle.id}/vote/confirm", data=data).status_code == 200
    assert client.post(f"/cycles/{world.a.cycle.id}/ballot", data=data).status_code == 302
    assert {c.project_id: c.points for c in ballots(world.a)[0].choices} == \
        {world.a.projects[0].id: 3, world.a.projects[1].id: 2}
    too_many = data | {f"points-{world.a.projects[2].id}": "1"}
    response = client.post(f"/cycles/{world.a.cycle.id}/ballot", data=too_many)
    assert response.status_code == 422 and "you have 5 to give" in response.get_data(as_text=True)


def test_choose_one_page_uses_a_radio(world, client, auth):
    world.a.cycle.method, world.a.cycle.max_choices = "choose_one", None
    db.session.commit()
    auth.login("resident-ca-1")
    assert 'type="radio"' in client.get(f"/cycles/{world.a.cycle.id}/vote").get_data(as_text=True)


def test_closed_vote_page(world, client, auth):
    auth.login("resident-ca-1")
    world.a.cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    world.a.cycle.voting_opens_at = utcnow() - timedelta(days=3)
    db.session.commit()
    page = client.get(f"/cycles/{world.a.cycle.id}/vote")
    assert page.status_code == 409 and "Voting is not open" in page.get_data(as_text=True)
    assert client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 0)).status_code == 409
    assert ballots(world.a) == []


@pytest.mark.parametrize("username", ["staff-ca", "grid-ca-1", "resident-cb-1"])
def test_others_cannot_vote_here(world, client, auth, username):
    auth.login(username)
    assert client.get(f"/cycles/{world.a.cycle.id}/vote").status_code == 403
    assert client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 0)).status_code == 403
    assert ballots(world.a) == []


def test_anonymous_vote_goes_to_sign_in(world, client):
    response = client.get(f"/cycles/{world.a.cycle.id}/vote")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_public_receipt_check(world, client, auth):
    auth.login("resident-ca-1")
    client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 0))
    client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 1))
    first, second = ballots(world.a)
    # The resident's own page shows the ballot's place in the chain, to keep.
    mine = client.get(f"/cycles/{world.a.cycle.id}/my-ballot").get_data(as_text=True)
    assert second.chain_hash in mine and first.chain_hash not in mine
    assert re.search(rf"<dd[^>]*>{second.seq}</dd>", mine) and "Keep these: they prove" in mine
    auth.logout()
    current = client.get(f"/receipts/{second.receipt}").get_data(as_text=True)
    assert "This receipt is in the record" in current and "it counts" in current
    assert world.a.projects[1].title not in current and "resident-ca-1" not in current
    assert second.chain_hash in current and re.search(rf"<dd[^>]*>{second.seq}</dd>", current)
    old = client.get("/receipts", query_string={"code": first.receipt.lower()}).get_data(as_text=True)
    assert "Superseded" in old and first.chain_hash in old and second.chain_hash not in old
    assert re.search(rf"<dd[^>]*>{first.seq}</dd>", old)
    assert "No ballot has this receipt code" in client.get("/receipts?code=AAAA-BBBB-CCCC").get_data(as_text=True)
    assert client.get("/receipts").status_code == 200


def test_pages_have_no_inline_script_or_style(world, client, auth):
    auth.login("resident-ca-1")
    client.post(f"/cycles/{world.a.cycle.id}/ballot", data=chosen(world.a, 0))
    pages = [client.get(f"/cycles/{world.a.cycle.id}/vote"),
             client.post(f"/cycles/{world.a.cycle.id}/vote/confirm", data=chosen(world.a, 1)),
             client.get(f"/cycles/{world.a.cycle.id}/my-ballot"), client.get("/receipts")]
    for response in pages:
        text = response.get_data(as_text=True)
        assert response.status_code == 200
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", text))
        assert not re.search(r"\son[a-z]+=", text) and " style=" not in text and "<style" not in text


def test_photos_are_shown_when_the_project_has_some(world, client, auth, factory):
    from voting.proposals.models import ProjectPhoto

    factory.add(ProjectPhoto(project_id=world.a.projects[0].id, filename="abc123.jpg", width=800, height=600))
    db.session.commit()
    auth.login("resident-ca-1")
    text = client.get(f"/cycles/{world.a.cycle.id}/vote").get_data(as_text=True)
    assert ("abc123.jpg" in text) == ("proposals.photo" in client.application.view_functions)
