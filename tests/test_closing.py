"""Closing the year honestly: a cycle is archived only once each funded project not accepted is carried
over into the next year or ended with a public reason; the money left over (结余) per community-year in
the ledger, the archive and the district dashboard."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from voting.audit.models import ActionLogEntry
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.proposals.models import Project
from voting.tracking.models import CarryOver, ProjectEnding, SpendingEntry
from voting.tracking.progress import local_today

EN = {"Accept-Language": "en"}


@dataclass
class Year:
    cycle: Cycle          # 2025, in implementation; the world's 2026 cycle (voting) follows it
    funded: Project       # 80,000 yuan, not started
    started: Project      # 60,000 yuan, in progress, 18,000 paid
    done: Project         # 50,000 yuan, completed, 50,000 paid


@pytest.fixture()
def year(world, factory) -> Year:
    published = utcnow() - timedelta(days=60)
    cycle = factory.add(Cycle(community_id=world.a.community.id, year=2025, phase="implementation",
                              voting_opens_at=published - timedelta(days=20),
                              voting_closes_at=published - timedelta(days=5), results_published_at=published,
                              implementation_started_at=published + timedelta(days=1)))
    funded = factory.project(cycle, "ca路灯安装", 80_000, status="funded", votes=120)
    started = factory.project(cycle, "ca道路修补", 60_000, status="in_progress", votes=100)
    done = factory.project(cycle, "ca健身器材", 50_000, status="completed", votes=90, completed_at=utcnow())
    factory.project(cycle, "ca未获资助", 30_000, status="not_funded", votes=10)
    for project, fen in ((started, 18_000_00), (done, 50_000_00)):
        factory.add(SpendingEntry(project_id=project.id, spent_on=local_today(), amount_fen=fen, payee="某公司"))
    db.session.commit()
    return Year(cycle, funded, started, done)


def close(client, headers, cycle):
    return client.post(f"/api/v1/cycles/{cycle.id}/phase", json={"phase": "closed"}, headers=headers)


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(CarryOver)),
            db.session.scalar(select(func.count()).select_from(ProjectEnding)))


def test_archiving_waits_for_each_project_not_accepted(client, auth, world, year):
    staff = auth.headers("staff-ca")
    refused = close(client, staff, year.cycle)
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert error["code"] == "projects_open"
    for project in (year.funded, year.started, year.done):
        assert f"#{project.id} {project.title}" in error["message"]
    assert "ca未获资助" not in error["message"]
    db.session.expire_all()
    assert db.session.get(Cycle, year.cycle.id).phase == "implementation"
    public = client.get(f"/api/v1/cycles/{year.cycle.id}/closing").get_json()
    assert [p["id"] for p in public["open_projects"]] == [year.funded.id, year.started.id, year.done.id]
    assert public["next_cycle"] == {"id": world.a.cycle.id, "year": 2026} and public["left_over"] is None

    carried = client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=staff)
    assert carried.status_code == 201, carried.get_json()
    assert carried.get_json()["carried_into"] == {"cycle": world.a.cycle.id, "year": 2026}
    ended = client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff,
                        json={"reason": "施工地块被征收，无法继续"})
    assert ended.status_code == 201 and ended.get_json()["reason"] == "施工地块被征收，无法继续"
    still = close(client, staff, year.cycle)
    assert still.status_code == 409 and year.done.title in still.get_json()["error"]["message"]
    assert year.funded.title not in still.get_json()["error"]["message"]
    accepted = client.post(f"/api/v1/projects/{year.done.id}/status", headers=staff, json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表"})
    assert accepted.status_code == 200
    assert close(client, staff, year.cycle).status_code == 200

    actions = dict(db.session.execute(select(ActionLogEntry.action, func.count()).where(
        ActionLogEntry.action.in_(("tracking.carry_over", "tracking.end"))).group_by(ActionLogEntry.action)).all())
    assert actions == {"tracking.carry_over": 1, "tracking.end": 1}


def test_the_money_left_over_after_closing(client, auth, world, year):
    staff = auth.headers("staff-ca")
    client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=staff)
    client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff, json={"reason": "居民意见分歧，暂停"})
    client.post(f"/api/v1/projects/{year.done.id}/status", headers=staff, json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表"})
    assert close(client, staff, year.cycle).status_code == 200

    # 200,000 fund − 68,000 paid − 80,000 still committed to the carried-over project = 52,000.
    led = client.get("/api/v1/ledger/ca/2025").get_json()
    assert led["left_over"] == "52000.00" and led["committed_to_carried_over"] == "80000.00"
    assert led["year_end"][str(year.funded.id)]["carried_into"]["year"] == 2026
    assert led["year_end"][str(year.started.id)]["ended"]["reason"] == "居民意见分歧，暂停"
    assert led["committed"] == "80000.00"  # the ended project commits nothing more
    nxt = client.get("/api/v1/ledger/ca/2026").get_json()
    assert [(c["id"], c["from_year"], c["remaining"]) for c in nxt["carried_in"]] == [
        (year.funded.id, 2025, "80000.00")]
    assert nxt["left_over"] is None   # 2026 is not closed

    # The carried project's work goes on after its year is archived: paid out of the 2025 fund, the
    # 结余 stays (less committed, as much more spent).
    paid = client.post(f"/api/v1/projects/{year.funded.id}/spending", headers=staff, json={
        "date": local_today().isoformat(), "amount": "30000", "payee": "湖南湘天市政工程有限公司"})
    assert paid.status_code == 201, paid.get_json()
    led = client.get("/api/v1/ledger/ca/2025").get_json()
    assert (led["spent"], led["left_over"], led["committed_to_carried_over"]) == ("98000.00", "52000.00", "50000.00")
    # The ended project and the closed year's own projects no longer change.
    refused = client.post(f"/api/v1/projects/{year.started.id}/spending", headers=staff, json={
        "date": local_today().isoformat(), "amount": "10", "payee": "x"})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "project_ended"
    assert client.post(f"/api/v1/projects/{year.done.id}/milestones", headers=staff, json={
        "date": local_today().isoformat(), "text": "x"}).get_json()["error"]["code"] == "cycle_closed"

    # Pages: the ledgers, the project pages, the archive and the dashboard.
    page = client.get("/tracking/ledger/ca/2025", headers=EN).get_data(as_text=True)
    assert "Left over" in page and "¥52,000" in page and "Carried over into 2026" in page
    page = client.get("/tracking/ledger/ca/2026", headers=EN).get_data(as_text=True)
    assert "Carried over from earlier years" in page and year.funded.title in page and "¥50,000" in page
    assert "居民意见分歧，暂停" in client.get(f"/tracking/projects/{year.started.id}", headers=EN).get_data(as_text=True)
    assert "carried over into 2026" in client.get(f"/tracking/projects/{year.funded.id}",
                                                   headers=EN).get_data(as_text=True)
    archive = client.get("/archive?state=ended", headers=EN).get_data(as_text=True)
    assert year.started.title in archive and "居民意见分歧，暂停" in archive
    assert re.search(r"2025</strong> · ¥52,000", archive)
    underway = client.get("/archive?state=underway", headers=EN).get_data(as_text=True)
    assert year.started.title not in underway and year.funded.title in underway
    board = client.get("/dashboard", headers=EN).get_data(as_text=True)
    assert re.search(r'class="money">¥52,000\.00</span>|class="money">¥52,000</span>', board)
    assert "Left over" in client.get("/tracking/ledger/ca", headers=EN).get_data(as_text=True)


def test_refusals_change_nothing(client, auth, world, year):
    staff = auth.headers("staff-ca")
    before = counts()
    empty = client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff, json={"reason": "  "})
    assert empty.status_code == 422 and empty.get_json()["error"]["code"] == "missing_reason"
    long = client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff, json={"reason": "长" * 501})
    assert long.status_code == 422 and long.get_json()["error"]["code"] == "too_long"
    other = auth.headers("staff-cb")
    assert client.post(f"/api/v1/projects/{year.started.id}/end", headers=other,
                       json={"reason": "x"}).status_code == 403
    assert client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=other).status_code == 403
    resident = auth.headers("resident-ca-1")
    assert client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=resident).status_code == 403
    assert counts() == before

    # Carried into 2026, the last cycle: no next cycle to carry it on to.
    assert client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=staff).status_code == 201
    again = client.post(f"/api/v1/projects/{year.funded.id}/carry-over", headers=staff)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "no_next_cycle"
    assert "2027" in again.get_json()["error"]["message"]
    # Ended once; accepted projects are settled.
    assert client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff, json={"reason": "停工"}).status_code == 201
    twice = client.post(f"/api/v1/projects/{year.started.id}/end", headers=staff, json={"reason": "再次"})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "project_ended"
    carry_ended = client.post(f"/api/v1/projects/{year.started.id}/carry-over", headers=staff)
    assert carry_ended.status_code == 409 and carry_ended.get_json()["error"]["code"] == "project_ended"
    client.post(f"/api/v1/projects/{year.done.id}/status", headers=staff, json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表"})
    settled = client.post(f"/api/v1/projects/{year.done.id}/end", headers=staff, json={"reason": "x"})
    assert settled.status_code == 409 and settled.get_json()["error"]["code"] == "already_accepted"
    assert counts() == (1, 1)


def test_no_next_cycle_yet(client, auth, world, factory):
    """The community's last cycle: carrying over waits for the next one to be opened."""
    world.a.cycle.phase = "implementation"
    funded = factory.project(world.a.cycle, "ca电梯加装", 90_000, status="funded", votes=50)
    db.session.commit()
    refused = client.post(f"/api/v1/projects/{funded.id}/carry-over", headers=auth.headers("staff-ca"))
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "no_next_cycle"
    assert counts() == (0, 0)


def test_the_closing_page(client, auth, world, year):
    auth.login("staff-ca")
    url = f"/tracking/cycles/{year.cycle.id}/closing"
    page = client.get(url, headers=EN).get_data(as_text=True)
    assert "Carry over into 2026" in page and year.funded.title in page and "End it with a public reason" in page
    zh = client.get(url).get_data(as_text=True)
    assert year.funded.title in zh
    blank = client.post(f"/tracking/projects/{year.started.id}/end", data={f"p{year.started.id}-reason": ""},
                        headers=EN)
    assert blank.status_code == 422 and "reason" in blank.get_data(as_text=True).lower()
    assert counts() == (0, 0)
    done = client.post(f"/tracking/projects/{year.started.id}/end",
                       data={f"p{year.started.id}-reason": "资金改用于更急需的项目"})
    assert done.status_code == 302 and done.headers["Location"].endswith(url)
    assert client.post(f"/tracking/projects/{year.funded.id}/carry-over").status_code == 302
    assert counts() == (1, 1)
    closing = client.get(url, headers=EN).get_data(as_text=True)
    assert "资金改用于更急需的项目" in closing and "carried over into 2026" in closing
    refused = client.post(f"/cycles/{year.cycle.id}/manage/phase", data={"phase": "closed"}, headers=EN)
    assert refused.status_code == 409 and year.done.title in refused.get_data(as_text=True)
    dashboard = client.get(f"/cycles/{year.cycle.id}/manage", headers=EN).get_data(as_text=True)
    assert f'href="{url}"' in dashboard
    auth.logout()
    auth.login("staff-cb")
    assert client.get(url).status_code == 403
    assert client.post(f"/tracking/projects/{year.done.id}/carry-over").status_code == 403
