"""The district's public pages and API: communities, cycles."""


def test_communities(world, client):
    body = client.get("/api/v1/communities").get_json()
    assert body == [{"code": "ca", "name": "ca社区", "street": "sd街道"},
                    {"code": "cb", "name": "cb社区", "street": "sd街道"}]


def test_cycles_of_a_community(world, client):
    body = client.get("/api/v1/communities/ca/cycles").get_json()
    assert body == [{"id": world.a.cycle.id, "year": 2026, "fund": "200000.00", "phase": "voting"}]


def test_unknown_community(world, client):
    response = client.get("/api/v1/communities/zz/cycles")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "unknown_community"
    page = client.get("/c/zz")
    assert page.status_code == 404 and "zz" in page.get_data(as_text=True)


def test_cycle_detail(world, client):
    cycle = world.a.cycle
    body = client.get(f"/api/v1/cycles/{cycle.id}").get_json()
    assert body["community"] == "ca" and body["fund"] == "200000.00" and body["phase"] == "voting"
    assert body["voting_opens_at"].endswith("Z") and body["voting_closes_at"] > body["voting_opens_at"]
    assert body["rules"] == {"method": "approval", "min_choices": 1, "max_choices": 3, "points": None,
                             "threshold": None, "outcome_rule": "greedy", "voters": "adults",
                             "threshold_percent": None, "min_turnout_percent": None, "notice_days": 7}
    assert [p["cost"] for p in body["projects"]] == ["80000.00", "60000.00", "50000.00", "30000.00"]
    assert {p["status"] for p in body["projects"]} == {"on_ballot"}


def test_cycle_detail_hides_proposals_not_on_the_ballot(world, factory, client):
    from voting.extensions import db

    factory.project(world.a.cycle, "未审核", 1000, status="submitted")
    db.session.commit()
    titles = [p["title"] for p in client.get(f"/api/v1/cycles/{world.a.cycle.id}").get_json()["projects"]]
    assert "未审核" not in titles


def test_unknown_cycle(world, client):
    response = client.get("/api/v1/cycles/99999")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_cycle"
    assert client.get("/api/v1/cycles/abc").status_code == 404


def test_phase_follows_the_clock(world, client):
    from datetime import timedelta

    from voting.database import utcnow
    from voting.extensions import db

    cycle = world.a.cycle
    cycle.voting_opens_at, cycle.voting_closes_at = utcnow() - timedelta(days=9), utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/api/v1/cycles/{cycle.id}").get_json()["phase"] == "results"


def test_home_page(world, client):
    text = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "ca社区" in text and "cb社区" in text and "sd街道" in text


def test_community_page_shows_the_ballot(world, client):
    text = client.get("/c/ca").get_data(as_text=True)
    assert "ca项目1" in text and "80,000" in text and "cb项目1" not in text


def test_pages_are_chinese_by_default_and_english_on_request(world, client):
    assert "登录" in client.get("/").get_data(as_text=True)
    assert "Sign in" in client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"}).get_data(as_text=True)
    client.get("/lang/en")
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_home_counts_only_votes_open_now(world, client):
    from datetime import timedelta

    from voting.database import utcnow
    from voting.extensions import db

    world.b.cycle.voting_opens_at = utcnow() + timedelta(days=1)  # scheduled, not open yet
    world.b.cycle.voting_closes_at = utcnow() + timedelta(days=5)
    db.session.commit()
    text = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Votes open now</dt><dd>1</dd>" in text
