"""The printable results notice (公示) and the larger-text toggle."""
from __future__ import annotations

from datetime import timedelta

import pytest

from voting.database import utcnow
from voting.extensions import db
from voting.results.models import CycleResult


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def test_the_notice_lists_every_project_with_its_reason(world, client, auth):
    a = world.a
    ballot = client.put(f"/api/v1/cycles/{a.cycle.id}/ballot", json={"projects": [a.projects[1].id]},
                        headers=auth.headers("resident-ca-1"))
    assert ballot.status_code == 200
    a.cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    response = client.get(f"/cycles/{a.cycle.id}/results/notice")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Public notice of the result of the 2026 livelihood project vote in ca社区" in text
    for project in a.projects:
        assert project.title in text
    result = db.session.query(CycleResult).filter_by(cycle_id=a.cycle.id).one()
    assert result.chain_head in text and '<svg class="qr"' in text
    assert f"/cycles/{a.cycle.id}/results" in text
    assert "<script>" not in text and "style=" not in text
    assert f'href="/cycles/{a.cycle.id}/results/notice"' in client.get(f"/cycles/{a.cycle.id}/results").get_data(
        as_text=True)


def test_no_notice_before_the_vote_closes(world, client):
    assert client.get(f"/cycles/{world.a.cycle.id}/results/notice").status_code == 409


def test_larger_text_is_remembered_in_a_cookie(world, client):
    response = client.get("/text/large", headers={"Referer": "http://localhost/c/ca"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/c/ca")
    assert "text=large" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    assert '<html lang="en" class="large">' in client.get("/c/ca").get_data(as_text=True)
    assert "/text/normal" in client.get("/").get_data(as_text=True)
    response = client.get("/text/normal", headers={"Referer": "https://elsewhere.example/"})
    assert response.headers["Location"] == "/"  # never back to another site
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)
    assert "Set-Cookie" not in client.get("/text/huge").headers
