"""Each person's own page ("我的"): sign-in lands there, the header links it, and it shows each role
its work: a resident's vote (and receipt once voted), proposals and completed projects to rate;
staff's cycle with its next step; a grid worker's door list, assisted and paper ballots; the
district's views for the auditor and the admin. The states around the vote: "You have voted" with
the receipt on the community page, "Vote now" only for the community's residents, the receipt page's
finish button, errors above the ballot and the cost bar only on knapsack ballots."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from voting.database import utcnow
from voting.extensions import db
from voting.tracking.models import ProjectRating


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def cast(client, place, *numbers) -> str:
    """Vote through the pages as the signed-in resident; the receipt page's text."""
    data = {"projects": [str(place.projects[n].id) for n in numbers]}
    response = client.post(f"/cycles/{place.cycle.id}/ballot", data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("username", ["resident-ca-1", "staff-ca", "grid-ca-1", "auditor", "admin"])
def test_sign_in_lands_on_the_own_page_linked_in_the_header(world, client, auth, username):
    response = auth.login(username)
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    page = client.get("/me")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert re.search(r'<a class="me" href="/me" aria-current="page">My page</a>', text)
    assert 'href="/me"' in client.get("/").get_data(as_text=True)


def test_a_safe_next_still_wins_and_the_anonymous_are_sent_to_sign_in(world, client, auth):
    assert client.get("/me").status_code == 302
    assert 'href="/me"' not in client.get("/").get_data(as_text=True)
    response = client.post("/login?next=/c/ca", data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    assert response.headers["Location"] == "/c/ca"


def test_a_resident_sees_the_vote_then_the_receipt_proposals_and_projects_to_rate(world, factory, client, auth):
    a = world.a
    mine = factory.project(a.cycle, "我的提案：楼道灯", 5_000, status="submitted",
                           submitted_by_id=a.residents[0].id, submitted_at=utcnow())
    old = factory.cycle(a.community, year=2024, phase="closed")
    done = factory.project(old, "去年完工的路面", 40_000, status="completed")
    rated = factory.project(old, "去年验收的扶手", 20_000, status="accepted")
    factory.add(ProjectRating(project_id=rated.id, resident_id=a.residents[0].resident_id, score=5))
    factory.project(factory.cycle(world.b.community, year=2024, phase="closed"), "别的社区的项目", 1_000,
                    status="completed")
    db.session.commit()
    auth.login("resident-ca-1")

    text = client.get("/me").get_data(as_text=True)
    assert f'href="/cycles/{a.cycle.id}/vote"' in text and "You have voted" not in text
    assert mine.title in text and "Submitted" in text and 'href="/my/proposals"' in text
    for project in (done, rated):
        assert f'href="/tracking/projects/{project.id}#rating"' in text
    assert "别的社区的项目" not in text
    assert text.index(done.title) < text.index("Rate this project") and "Rated" in text

    receipt_page = cast(client, a, 0)
    receipt = re.search(r'class="receipt-code" translate="no">([^<]+)<', receipt_page).group(1)
    text = client.get("/me").get_data(as_text=True)
    assert "You have voted" in text and receipt in text
    assert f'href="/cycles/{a.cycle.id}/my-ballot"' in text and f'href="/cycles/{a.cycle.id}/vote"' not in text


def test_the_community_page_knows_who_has_voted_and_who_may_vote(world, client, auth):
    a, vote = world.a, f'href="/cycles/{world.a.cycle.id}/vote"'
    text = client.get("/c/ca").get_data(as_text=True)  # anonymous: sign in first, then the ballot
    assert vote not in text and f'href="/login?next=/cycles/{a.cycle.id}/vote"' in text

    auth.login("resident-ca-1")
    assert vote in client.get("/c/ca").get_data(as_text=True)
    for path in ("/c/cb", f"/cycles/{world.b.cycle.id}"):
        assert f'href="/cycles/{world.b.cycle.id}/vote"' not in client.get(path).get_data(as_text=True), path
    receipt_page = cast(client, a, 1)
    receipt = re.search(r'class="receipt-code" translate="no">([^<]+)<', receipt_page).group(1)
    for path in ("/c/ca", f"/cycles/{a.cycle.id}"):
        text = client.get(path).get_data(as_text=True)
        assert "You have voted" in text and receipt in text and vote not in text, path
    assert "You have voted" not in client.get("/c/cb").get_data(as_text=True)
    auth.logout()

    for username in ("staff-ca", "grid-ca-1", "admin", "auditor"):
        auth.login(username)
        for path in ("/c/ca", f"/cycles/{a.cycle.id}"):
            text = client.get(path).get_data(as_text=True)
            assert vote not in text and "Sign in to vote" not in text and "You have voted" not in text, (username, path)
        auth.logout()


def test_the_receipt_page_finishes_home_and_changing_is_secondary(world, client, auth):
    auth.login("resident-ca-1")
    text = cast(client, world.a, 0)
    finish = text.index('class="button primary big finish" href="/me"')
    change = text.index(f'class="button change" href="/cycles/{world.a.cycle.id}/vote"')
    assert finish < change and "Change my vote" in text


def test_a_refused_ballot_says_why_above_the_ballot(world, client, auth):
    auth.login("resident-ca-1")
    a = world.a
    response = client.post(f"/cycles/{a.cycle.id}/vote/confirm", data={"projects": [str(p.id) for p in a.projects]})
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert text.index('id="ballot-error"') < text.index('class="card ballot-rules"') < text.index('class="ballot"')


def test_the_cost_bar_shows_only_on_a_knapsack_ballot(world, client, auth):
    auth.login("resident-ca-1")
    a = world.a
    assert "<progress" not in client.get(f"/cycles/{a.cycle.id}/vote").get_data(as_text=True)  # approval
    a.cycle.method, a.cycle.max_choices = "knapsack", None
    db.session.commit()
    text = client.get(f"/cycles/{a.cycle.id}/vote").get_data(as_text=True)
    assert "<progress" in text and "data-total" in text


def test_staff_see_this_years_cycle_its_next_step_and_their_work(world, factory, client, auth):
    a = world.a
    factory.project(a.cycle, "待审核的提案", 1_000, status="submitted")
    funded = factory.project(a.cycle, "已资助的项目", 1_000, status="funded")
    db.session.commit()
    auth.login("staff-ca")
    text = client.get("/me").get_data(as_text=True)
    assert "1 proposal is waiting for review." in text
    assert "Next step:" in text and "Close voting now" in text
    for link in (f"/cycles/{a.cycle.id}/manage", "/c/ca/manage", "/c/ca/residents", "/c/ca/residents/import",
                 f"/cycles/{a.cycle.id}/turnout", f"/cycles/{a.cycle.id}/paper",
                 f"/tracking/projects/{funded.id}/manage"):
        assert f'href="{link}"' in text, link
    assert "/c/cb" not in text


def test_a_grid_worker_sees_the_doors_assisted_and_paper_ballots_while_voting(world, client, auth):
    a = world.a
    auth.login("grid-ca-1")
    text = client.get("/me").get_data(as_text=True)
    for link in (f"/cycles/{a.cycle.id}/doors", f"/cycles/{a.cycle.id}/assist", f"/cycles/{a.cycle.id}/paper"):
        assert f'href="{link}"' in text, link
    a.cycle.voting_opens_at = utcnow() + timedelta(days=3)
    a.cycle.voting_closes_at = utcnow() + timedelta(days=9)
    db.session.commit()
    text = client.get("/me").get_data(as_text=True)
    assert f"/cycles/{a.cycle.id}/doors" not in text and "No vote is open now" in text


@pytest.mark.parametrize("username", ["auditor", "admin"])
def test_the_auditor_and_the_admin_see_the_district(world, client, auth, username):
    auth.login(username)
    text = client.get("/me").get_data(as_text=True)
    assert 'href="/audit"' in text and 'href="/audit/log"' in text and 'href="/dashboard"' in text
    assert "Votes open now (2)" in text and 'href="/c/ca"' in text and 'href="/c/cb"' in text
    assert (f'href="/cycles/{world.a.cycle.id}/manage"' in text) == (username == "admin")
