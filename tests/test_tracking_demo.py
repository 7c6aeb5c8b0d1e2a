"""Tried as a new user would, on the demo district: the archive's 280 projects add up whichever way
they are filtered; staff record a milestone and a payment and the ledger shows what remains; a
resident rates a completed project."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import func, select

from voting.cycles.models import Cycle
from voting.extensions import db
from voting.geography.models import Community, SubDistrict
from voting.proposals.models import Project
from voting.tracking.ledger import ledger
from voting.tracking.models import Acceptance, FundApproval, ProjectRating, SpendingEntry
from voting.tracking.progress import local_today

PASSWORD = "Demo-Pass-1"
EN = {"Accept-Language": "en"}


@pytest.fixture()
def demo(runner, app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    result = runner.invoke(args=["demo", "--password", PASSWORD, "--residents-per-grid", "1"])
    assert result.exit_code == 0, result.output
    return result.output


def archive_total(client, query: str) -> int:
    text = client.get("/archive" + query, headers=EN).get_data(as_text=True)
    return int(re.search(r'<p class="count" role="status"><strong>(\d+)</strong>', text).group(1))


def test_the_archive_adds_up(demo, client):
    assert client.get("/api/v1/projects?status=completed").get_json()["total"] == 280
    assert archive_total(client, "") == 280
    years = [2019, 2020, 2021]
    assert sum(archive_total(client, f"?year={y}") for y in years) == 280
    assert sum(client.get(f"/api/v1/projects?status=completed&year={y}").get_json()["total"] for y in years) == 280
    subs = db.session.scalars(select(SubDistrict.code)).all()
    assert len(subs) == 5 and sum(archive_total(client, f"?sub_district={s}") for s in subs) == 280
    codes = db.session.scalars(select(Community.code)).all()
    assert sum(client.get(f"/api/v1/projects?status=completed&community={c}").get_json()["total"]
               for c in codes) == 280
    first = db.session.scalar(select(SubDistrict).where(SubDistrict.code == subs[0]))
    assert sum(archive_total(client, f"?community={c.code}") for c in first.communities) == archive_total(
        client, f"?sub_district={first.code}")
    categories = db.session.scalars(select(Project.category).where(
        Project.status.in_(("completed", "accepted"))).distinct()).all()
    assert sum(archive_total(client, f"?category={c}") for c in categories) == 280
    # The dashboard counts the same projects.
    board = client.get("/dashboard", headers=EN).get_data(as_text=True)
    assert '<a href="/archive">280</a>' in board
    # Downloads list every one of them.
    lines = client.get("/archive.csv").get_data().decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 281


def test_the_demo_money_is_consistent(demo):
    spent = dict(db.session.execute(
        select(Project.cycle_id, func.sum(SpendingEntry.amount_fen)).join(Project).group_by(Project.cycle_id)).all())
    funds = dict(db.session.execute(select(Cycle.id, Cycle.fund_fen)).all())
    assert spent and all(total <= funds[cycle_id] for cycle_id, total in spent.items())
    accepted = db.session.scalars(select(Project).where(Project.status == "accepted")).all()
    paid = dict(db.session.execute(
        select(SpendingEntry.project_id, func.sum(SpendingEntry.amount_fen)).group_by(SpendingEntry.project_id)).all())
    assert all(paid[p.id] == p.cost_fen for p in accepted)        # acceptance settles the account
    # Within what residents chose: no project paid past its voted cost, no year past its fund with
    # what is committed (the demo needs no approval, and records none).
    costs = dict(db.session.execute(select(Project.id, Project.cost_fen)).all())
    assert all(total <= costs[project_id] for project_id, total in paid.items())
    assert db.session.scalar(select(func.count()).select_from(FundApproval)) == 0
    for cycle in db.session.scalars(select(Cycle).where(Cycle.id.in_(spent))):
        assert ledger(db.session, cycle).remaining_fen >= 0
    assert db.session.scalar(select(func.count()).select_from(Acceptance)) == len(accepted)
    assert db.session.scalar(select(func.count()).select_from(ProjectRating)) > 0
    phases = dict(db.session.execute(select(Cycle.year, Cycle.phase).distinct()).all())
    assert phases[2021] == "closed" and phases[local_today().year] == "voting"
    assert phases[local_today().year - 1] == "implementation"
    funded = db.session.scalar(select(func.count()).select_from(Project).where(
        Project.status.in_(("funded", "in_progress"))))
    assert funded == 90       # two per community, to record progress on


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(out, "JPEG")
    return out.getvalue()


def test_staff_record_a_milestone_and_a_payment(demo, client, auth):
    year = local_today().year - 1
    assert auth.login("staff-qst01", PASSWORD).status_code == 302
    ledger = client.get(f"/tracking/ledger/qst01/{year}", headers=EN).get_data(as_text=True)
    manage_links = re.findall(r'href="/tracking/projects/(\d+)/manage"', ledger)
    assert len(manage_links) == 2
    project_id = int(manage_links[0])
    before = client.get(f"/api/v1/ledger/qst01/{year}").get_json()

    milestone = client.post(f"/tracking/projects/{project_id}/milestones", data={
        "happened_on": local_today().isoformat(), "text": "路面摊铺完成，居民代表到场查看",
        "photos": [(io.BytesIO(jpeg()), "现场.jpg")]}, content_type="multipart/form-data")
    assert milestone.status_code == 302
    payment = client.post(f"/tracking/projects/{project_id}/spending", data={
        "spent_on": local_today().isoformat(), "amount": "5000", "payee": "湖南湘天市政工程有限公司",
        "note": "进度款"})
    assert payment.status_code == 302

    after = client.get(f"/api/v1/ledger/qst01/{year}").get_json()
    assert float(after["spent"]) == float(before["spent"]) + 5000
    page = client.get(f"/tracking/ledger/qst01/{year}", headers=EN).get_data(as_text=True)
    remaining = int(float(after["fund"]) - float(after["spent"]) - float(after["committed"]))
    assert f"¥{remaining:,}" in page and "湖南湘天市政工程有限公司" in page
    story = client.get(f"/tracking/projects/{project_id}", headers=EN).get_data(as_text=True)
    assert "路面摊铺完成" in story and "/tracking/photos/" in story and "5,000" in story

    # Another community's staff can neither see the form nor pay.
    auth.logout()
    auth.login("staff-xsl01", PASSWORD)
    assert client.get(f"/tracking/projects/{project_id}/manage").status_code == 403
    assert client.post(f"/tracking/projects/{project_id}/spending", data={
        "spent_on": local_today().isoformat(), "amount": "1", "payee": "x"}).status_code == 403


def test_a_resident_rates_a_completed_project(demo, client, auth):
    from voting.accounts.models import User

    resident_id = db.session.scalar(select(User.resident_id).where(User.username == "resident-qst01-1"))
    rated = select(ProjectRating.project_id).where(ProjectRating.resident_id == resident_id)
    project_id = db.session.scalar(select(Project.id).join(Cycle).join(Community).where(
        Community.code == "qst01", Project.status.in_(("completed", "accepted")), Project.id.not_in(rated))
        .order_by(Project.id))
    assert auth.login("resident-qst01-1", PASSWORD).status_code == 302
    url = f"/tracking/projects/{project_id}"
    page = client.get(url, headers=EN).get_data(as_text=True)
    assert "Rate this project" in page
    assert client.post(f"{url}/rating", data={"score": "4", "comment": "路灯亮了"}).status_code == 302
    page = client.get(url, headers=EN).get_data(as_text=True)
    assert "You rated this project 4 of 5" in page and "路灯亮了" in page
    again = client.post(f"{url}/rating", data={"score": "1"}, headers=EN)
    assert again.status_code == 409 and "already rated" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ProjectRating).where(
        ProjectRating.project_id == project_id, ProjectRating.resident_id == resident_id)) == 1
