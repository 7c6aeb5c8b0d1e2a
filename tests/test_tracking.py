"""Following the money: progress, milestones with photos, spending against the fund, approvals,
acceptance, ratings, the archive and its downloads, the dashboard, GET /api/v1/projects."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import func, select

from voting.audit.models import ActionLogEntry
from voting.ballots.models import RollEntry
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting import storage
from voting.proposals.models import Project
from voting.storage import StoredFile
from voting.tracking.models import (
    Acceptance, FundApproval, Milestone, MilestonePhoto, ProgressChange, ProjectRating, SpendingEntry,
)
from voting.tracking.progress import local_today

TRACKING_TABLES = (Acceptance, FundApproval, Milestone, MilestonePhoto, ProgressChange, ProjectRating, SpendingEntry)
EN = {"Accept-Language": "en"}


@dataclass
class Built:
    cycle: Cycle
    funded: Project       # 80,000 yuan, not started
    started: Project      # 60,000 yuan, in progress
    done: Project         # 50,000 yuan, completed
    other_cycle: Cycle    # the same year in community b
    other_done: Project


def build_implementation(factory, world) -> Built:
    """A 2025 cycle being built in each community of the world (results published 60 days ago)."""
    published = utcnow() - timedelta(days=60)

    def cycle_of(place):
        cycle = factory.add(Cycle(community_id=place.community.id, year=2025, phase="implementation",
                                  voting_opens_at=published - timedelta(days=20),
                                  voting_closes_at=published - timedelta(days=5), results_published_at=published,
                                  implementation_started_at=published + timedelta(days=1)))
        return cycle

    cycle, other = cycle_of(world.a), cycle_of(world.b)
    funded = factory.project(cycle, "ca路灯安装", 80_000, status="funded", votes=120)
    started = factory.project(cycle, "ca道路修补", 60_000, status="in_progress", votes=100)
    done = factory.project(cycle, "ca健身器材", 50_000, status="completed", votes=90, completed_at=utcnow())
    factory.project(cycle, "ca未获资助", 30_000, status="not_funded", votes=10)
    other_done = factory.project(other, "cb书屋", 40_000, status="completed", votes=70, completed_at=utcnow())
    db.session.commit()
    return Built(cycle, funded, started, done, other, other_done)


@pytest.fixture()
def built(world, factory) -> Built:
    return build_implementation(factory, world)


@pytest.fixture(autouse=True)
def uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")
    return tmp_path / "uploads"


def rows(*models) -> dict:
    return {m.__tablename__: db.session.scalar(select(func.count()).select_from(m)) for m in models}


def stored_bytes(name: str) -> bytes:
    return storage.get(db.session, name).data


def jpeg_bytes(size=(64, 48), color="red", exif=True) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    if exif:
        data = Image.Exif()
        data[0x010F] = "SecretCamera"  # Make
        image.save(out, "JPEG", exif=data)
    else:
        image.save(out, "JPEG")
    return out.getvalue()


# --- Status -------------------------------------------------------------------------------------------

def test_status_moves_forward_one_step_at_a_time(built, client, auth):
    headers = auth.headers("staff-ca")
    url = f"/api/v1/projects/{built.funded.id}/status"
    assert client.post(url, json={"status": "in_progress"}, headers=headers).get_json() == {
        "id": built.funded.id, "status": "in_progress"}
    assert client.post(url, json={"status": "completed"}, headers=headers).status_code == 200
    response = client.post(url, json={"status": "accepted", "accepted_on": local_today().isoformat(),
                                      "panel": "社区两委、居民代表", "remarks": "合格"}, headers=headers)
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    db.session.expire_all()
    project = db.session.get(Project, built.funded.id)
    assert project.completed_at and project.accepted_at
    steps = db.session.scalars(select(ProgressChange.to_status).where(ProgressChange.project_id == project.id)
                               .order_by(ProgressChange.id)).all()
    assert steps == ["in_progress", "completed", "accepted"]
    acceptance = db.session.scalar(select(Acceptance).where(Acceptance.project_id == project.id))
    assert acceptance.panel == "社区两委、居民代表" and acceptance.remarks == "合格"
    assert acceptance.recorded_by.username == "staff-ca"
    logged = db.session.scalars(select(ActionLogEntry.action).where(ActionLogEntry.action == "tracking.status")).all()
    assert len(logged) == 3


@pytest.mark.parametrize("project_attr, to_status", [
    ("funded", "completed"),      # skipping
    ("funded", "accepted"),       # skipping two
    ("started", "funded"),        # backwards
    ("done", "in_progress"),      # backwards
    ("started", "in_progress"),   # standing still
    ("funded", "on_ballot"),      # not a progress status
    ("funded", "nonsense"),
])
def test_status_refuses_backwards_and_skipping(built, client, auth, project_attr, to_status):
    project = getattr(built, project_attr)
    before = rows(*TRACKING_TABLES)
    response = client.post(f"/api/v1/projects/{project.id}/status", json={"status": to_status},
                           headers=auth.headers("staff-ca") | EN)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "bad_status_change"
    assert "one step forward" in response.get_json()["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Project, project.id).status == project.status
    assert rows(*TRACKING_TABLES) == before


def test_the_database_refuses_a_backward_step(built):
    from sqlalchemy.exc import IntegrityError

    db.session.add(ProgressChange(project_id=built.done.id, from_status="completed", to_status="in_progress"))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("body, code", [
    ({}, "missing_date"),
    ({"accepted_on": "tomorrow", "panel": "x"}, "bad_date"),
    ({"accepted_on": "{today}"}, "missing_panel"),
    ({"accepted_on": "{future}", "panel": "居民代表"}, "date_in_future"),
    ({"accepted_on": "{before}", "panel": "居民代表"}, "date_before_funding"),
])
def test_acceptance_needs_a_date_and_a_panel(built, client, auth, body, code):
    values = {"{today}": local_today().isoformat(), "{future}": (local_today() + timedelta(days=3)).isoformat(),
              "{before}": (local_today() - timedelta(days=200)).isoformat()}
    body = {k: values.get(v, v) for k, v in body.items()}
    response = client.post(f"/api/v1/projects/{built.done.id}/status", json={"status": "accepted"} | body,
                           headers=auth.headers("staff-ca"))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert rows(Acceptance, ProgressChange) == {"acceptance": 0, "progress_change": 0}


def test_status_page_form(built, client, auth):
    auth.login("staff-ca")
    page = client.get(f"/tracking/projects/{built.funded.id}/manage", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "Work has started" in page.get_data(as_text=True)
    stale = client.post(f"/tracking/projects/{built.funded.id}/status", data={"to_status": "completed"},
                        headers={"Accept-Language": "en"})
    assert stale.status_code == 422 and "one step forward" in stale.get_data(as_text=True)
    moved = client.post(f"/tracking/projects/{built.funded.id}/status", data={"to_status": "in_progress"})
    assert moved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Project, built.funded.id).status == "in_progress"


# --- Milestones and photos -----------------------------------------------------------------------------

def test_milestone_with_photos_is_reencoded_and_served(built, client, auth, uploads):
    auth.login("staff-ca")
    png = io.BytesIO()
    Image.new("RGBA", (3000, 1500), (0, 128, 0, 128)).save(png, "PNG")
    response = client.post(f"/tracking/projects/{built.started.id}/milestones", data={
        "happened_on": local_today().isoformat(), "text": "主体完工",
        "photos": [(io.BytesIO(jpeg_bytes()), "site.jpg"), (io.BytesIO(png.getvalue()), "wide.png")],
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    photos = db.session.scalars(select(MilestonePhoto).order_by(MilestonePhoto.id)).all()
    assert [(p.width, p.height) for p in photos] == [(64, 48), (1600, 800)]
    for photo in photos:
        with Image.open(io.BytesIO(stored_bytes(photo.filename))) as stored:
            assert stored.format == "JPEG" and not stored.getexif()
    assert not uploads.exists()  # nothing on this host's disk: every host serves it from the store
    served = client.get(f"/tracking/photos/{photos[0].filename}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.get_data() == stored_bytes(photos[0].filename)
    assert served.headers["Cache-Control"] == "public, max-age=2592000"
    assert served.headers["ETag"] == '"%s"' % hashlib.sha256(served.get_data()).hexdigest()
    again = client.get(f"/tracking/photos/{photos[0].filename}", headers={"If-None-Match": served.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    page = client.get(f"/tracking/projects/{built.started.id}").get_data(as_text=True)
    assert "主体完工" in page and photos[1].filename in page


def test_only_milestone_photos_are_served_here(built, client, uploads, factory):
    from voting.proposals.models import ProjectPhoto

    uploads.mkdir(parents=True, exist_ok=True)
    stray = "a" * 32 + ".jpg"
    (uploads / stray).write_bytes(jpeg_bytes())
    assert client.get(f"/tracking/photos/{stray}").status_code == 404          # a file, but no milestone's
    assert client.get("/tracking/photos/..%2Fsecret_key").status_code == 404
    assert client.get("/tracking/photos/" + "b" * 32 + ".jpg").status_code == 404
    factory.add(ProjectPhoto(project_id=built.done.id, filename=stray, width=64, height=48))
    db.session.commit()
    page = client.get(f"/tracking/projects/{built.done.id}").get_data(as_text=True)
    assert f"/photos/{stray}" in page                         # the proposal's photo, served by proposals


@pytest.mark.parametrize("files, code", [
    ([(b"%PDF-1.4 not an image", "report.pdf")], "not_an_image"),
    ([(b"", "empty.jpg")], "not_an_image"),
    ([(b"", "")], None),                               # no file chosen: the milestone is saved without photos
    ([(jpeg_bytes()[:60], "cut.jpg")], "not_an_image"),
    ([(b"GIF89a" + b"\x00" * 20, "fake.gif")], "not_an_image"),
])
def test_a_file_that_is_not_an_image_saves_nothing(built, client, auth, uploads, files, code):
    headers = auth.headers("staff-ca")
    before = rows(Milestone, MilestonePhoto, StoredFile)
    response = client.post(f"/api/v1/projects/{built.started.id}/milestones", data={
        "date": local_today().isoformat(), "text": "进度",
        "photos": [(io.BytesIO(raw), name) for raw, name in files],
    }, content_type="multipart/form-data", headers=headers)
    if code is None:
        assert response.status_code == 201
        return
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert rows(Milestone, MilestonePhoto, StoredFile) == before
    assert not uploads.exists() or not any(uploads.iterdir())


def test_too_many_or_too_large_photos(built, client, auth, monkeypatch):
    from voting.proposals import photos

    headers = auth.headers("staff-ca")
    url = f"/api/v1/projects/{built.started.id}/milestones"
    many = [(io.BytesIO(jpeg_bytes()), f"{n}.jpg") for n in range(7)]
    response = client.post(url, data={"date": local_today().isoformat(), "text": "x", "photos": many},
                           content_type="multipart/form-data", headers=headers)
    assert response.get_json()["error"]["code"] == "too_many_photos"
    monkeypatch.setattr(photos, "MAX_BYTES", 100)
    response = client.post(url, data={"date": local_today().isoformat(), "text": "x",
                                      "photos": [(io.BytesIO(jpeg_bytes()), "big.jpg")]},
                           content_type="multipart/form-data", headers=headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "photo_too_large"
    assert rows(Milestone, StoredFile) == {"milestone": 0, "stored_file": 0}


@pytest.mark.parametrize("body, code", [
    ({"text": "进场"}, "missing_date"),
    ({"date": "{future}", "text": "进场"}, "date_in_future"),
    ({"date": "{before}", "text": "进场"}, "date_before_funding"),
    ({"date": "2025-13-01", "text": "进场"}, "bad_date"),
    ({"date": "{today}", "text": "   "}, "missing_text"),
    ({"date": "{today}", "text": "长" * 1001}, "too_long"),
    ({"date": "{today}", "text": 5}, "not_text"),
])
def test_milestone_refusals(built, client, auth, body, code):
    values = {"{today}": local_today().isoformat(), "{future}": (local_today() + timedelta(days=1)).isoformat(),
              "{before}": (local_today() - timedelta(days=61)).isoformat()}
    body = {k: values.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    response = client.post(f"/api/v1/projects/{built.started.id}/milestones", json=body,
                           headers=auth.headers("staff-ca"))
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    assert rows(Milestone) == {"milestone": 0}


def test_milestone_page_shows_the_error_next_to_the_field(built, client, auth, uploads):
    auth.login("staff-ca")
    response = client.post(f"/tracking/projects/{built.started.id}/milestones", data={
        "happened_on": local_today().isoformat(), "text": "进度",
        "photos": [(io.BytesIO(b"<svg></svg>"), "drawing.svg")],
    }, content_type="multipart/form-data", headers={"Accept-Language": "en"})
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "drawing.svg" in text and 'id="photos-error"' in text
    assert rows(Milestone, MilestonePhoto) == {"milestone": 0, "milestone_photo": 0}


# --- Spending and the ledger -----------------------------------------------------------------------

def pay(client, headers, project, amount, day=None, payee="湖南某建设公司", note=""):
    body = {"date": (day or local_today()).isoformat(), "amount": amount, "payee": payee, "note": note}
    return client.post(f"/api/v1/projects/{project.id}/spending", json=body, headers=headers)


def test_spending_is_recorded_and_the_ledger_adds_up(built, client, auth):
    headers = auth.headers("staff-ca")
    response = pay(client, headers, built.started, "18000.50", note="预付款")
    assert response.status_code == 201
    assert response.get_json() | {"id": 0} == {"id": 0, "date": local_today().isoformat(), "amount": "18000.50",
                                              "payee": "湖南某建设公司", "note": "预付款", "approval": None,
                                              "reverses": None, "reversed_by": None}
    assert pay(client, headers, built.done, 50_000).status_code == 201
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    # Allocated: 80,000 + 60,000 + 50,000. Committed: what the projects still owe.
    assert ledger | {"projects": [], "approvals": [], "spending": []} == {
        "community": "ca", "year": 2025, "fund": "200000.00", "approved_beyond_fund": "0.00",
        "allocated": "190000.00", "spent": "68000.50", "committed": "121999.50", "remaining": "10000.00",
        "projects": [], "approvals": [], "spending": [],
        "left_over": None, "committed_to_carried_over": None, "carried_in": [], "year_end": {}}  # 结余: once closed
    assert [e["amount"] for e in ledger["spending"]] == ["18000.50", "50000.00"]
    assert [p["spent"] for p in ledger["projects"]] == ["0.00", "18000.50", "50000.00"]
    page = client.get("/tracking/ledger/ca/2025").get_data(as_text=True)
    assert "68,000.50" in page and "10,000" in page and "湖南某建设公司" in page
    logged = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "tracking.spending"))
    assert logged.actor == "staff-ca" and '"amount_fen":1800050' in logged.detail


@pytest.mark.parametrize("amount, day_offset, payee, code", [
    ("-100", 0, "某公司", "bad_amount"),
    ("0", 0, "某公司", "bad_amount"),
    ("0.00", 0, "某公司", "bad_amount"),
    ("abc", 0, "某公司", "bad_amount"),
    ("12.345", 0, "某公司", "bad_amount"),
    (12.505, 0, "某公司", "bad_amount"),             # a JSON number with more than two decimals
    ("12,000.50", 0, "某公司", "bad_amount"),         # no separators
    ("NaN", 0, "某公司", "bad_amount"),
    (None, 0, "某公司", "missing_amount"),
    ("100", 1, "某公司", "date_in_future"),
    ("100", -61, "某公司", "date_before_funding"),
    ("100", 0, "  ", "missing_payee"),
    ("100", 0, None, "missing_payee"),
])
def test_bad_spending_saves_nothing(built, client, auth, amount, day_offset, payee, code):
    before = rows(SpendingEntry)
    response = pay(client, auth.headers("staff-ca"), built.started, amount,
                   day=local_today() + timedelta(days=day_offset), payee=payee)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["error"]["code"] == code and body["error"]["message"]
    assert rows(SpendingEntry) == before


def test_spending_beyond_the_fund_needs_the_admins_approval(built, client, auth):
    """Allocated 190,000 of 200,000: a project may pass its voted cost by what the admin approves for
    it, and the year may pass the fund (spent and committed) only by what the admin approves for the year."""
    staff, admin = auth.headers("staff-ca"), auth.headers("admin")
    assert pay(client, staff, built.started, 60_000).status_code == 201
    over_cost = pay(client, staff | EN, built.started, "0.01")
    assert over_cost.status_code == 422 and over_cost.get_json()["error"]["code"] == "over_cost"
    assert "approval" in over_cost.get_json()["error"]["message"]
    assert rows(SpendingEntry) == {"spending_entry": 1}

    # 15,000 beyond the cost of a project does not fit in the 10,000 the year has free.
    approve = "/api/v1/ledger/ca/2025/approvals"
    refused = client.post(approve, json={"amount": "15000", "reason": "材料涨价", "project": built.started.id},
                          headers=admin | EN)
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "over_fund"
    assert "Approve spending beyond the year's fund first" in refused.get_json()["error"]["message"]
    assert rows(FundApproval) == {"fund_approval": 0}

    # Staff cannot approve their own overrun; the admin can, with a reason.
    assert client.post(approve, json={"amount": "8000", "reason": "材料涨价"}, headers=staff).status_code == 403
    assert client.post(approve, json={"amount": "8000", "reason": " "},
                       headers=admin).get_json()["error"]["code"] == "missing_reason"
    year = client.post(approve, json={"amount": "5000", "reason": "区财政追加"}, headers=admin)
    assert year.status_code == 201 and year.get_json()["project"] is None
    approved = client.post(approve, json={"amount": "15000", "reason": "材料涨价，经区里审定",
                                          "project": built.started.id}, headers=admin)
    assert approved.status_code == 201 and approved.get_json()["approved_by"] == "admin"
    approval = db.session.get(FundApproval, approved.get_json()["id"])
    assert approval.project_id == built.started.id and approval.reason == "材料涨价，经区里审定"
    assert approval.approved_at is not None

    over = pay(client, staff, built.started, 15_000)
    assert over.status_code == 201 and over.get_json()["approval"] == approval.id
    assert pay(client, staff, built.started, "0.01").get_json()["error"]["code"] == "over_cost"
    ledger = client.get("/api/v1/ledger/ca/2025").get_json()
    # Spent 75,000; committed 80,000 + 50,000: 205,000 of a fund of 200,000 and 5,000 approved.
    assert ledger["spent"] == "75000.00" and ledger["approved_beyond_fund"] == "5000.00"
    assert ledger["remaining"] == "-5000.00"
    assert [p["approved_beyond_cost"] for p in ledger["projects"]] == ["0.00", "15000.00", "0.00"]
    assert {a["reason"] for a in ledger["approvals"]} == {"区财政追加", "材料涨价，经区里审定"}
    logged = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "tracking.approve_beyond_cost"))
    assert logged.actor == "admin" and "材料涨价" in logged.detail
    assert db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "tracking.approve_beyond_fund"))
    page = client.get("/tracking/ledger/ca/2025", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "beyond the voted cost, approved" in page and "材料涨价，经区里审定" in page
    assert "covered by the district admin" in page


@pytest.mark.server
def test_simultaneous_payments_cannot_overspend_the_fund(built, auth, live_server):
    """Ten payments of 10,000 at once against a project of 60,000: the cycle row is locked, so exactly six fit."""
    import http.client
    import json
    import threading
    from urllib.parse import urlsplit

    token = auth.token("staff-ca")
    base = urlsplit(live_server(workers=3))
    body = json.dumps({"date": local_today().isoformat(), "amount": "10000", "payee": "某公司"})
    barrier, statuses, path = threading.Barrier(10), [], f"/api/v1/projects/{built.started.id}/spending"

    def send():
        connection = http.client.HTTPConnection(base.hostname, base.port, timeout=60)
        barrier.wait()
        connection.request("POST", path, body=body,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        statuses.append(connection.getresponse().status)
        connection.close()

    threads = [threading.Thread(target=send) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 6 + [422] * 4
    db.session.rollback()  # a fresh snapshot: the server wrote in other connections
    total = db.session.scalar(select(func.sum(SpendingEntry.amount_fen)))
    assert total == 60_000 * 100


def test_the_fund_of_another_year_or_community_is_separate(built, client, auth):
    assert pay(client, auth.headers("staff-ca"), built.done, 50_000).status_code == 201
    assert client.get("/api/v1/ledger/cb/2025").get_json()["spent"] == "0.00"


def test_spending_page_form_errors_and_remaining(built, client, auth):
    auth.login("staff-ca")
    url = f"/tracking/projects/{built.started.id}/spending"
    bad = client.post(url, data={"spent_on": local_today().isoformat(), "amount": "一万", "payee": "某公司"},
                      headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "Write the amount in yuan" in bad.get_data(as_text=True)
    assert "Nothing was saved" in bad.get_data(as_text=True) and 'href="#payment"' in bad.get_data(as_text=True)
    early = client.post(url, data={"spent_on": "2000-01-01", "amount": "100", "payee": "某公司"},
                        headers={"Accept-Language": "en"})
    assert early.status_code == 422 and "before the project was funded" in early.get_data(as_text=True)
    assert rows(SpendingEntry) == {"spending_entry": 0}
    good = client.post(url, data={"spent_on": local_today().isoformat(), "amount": "12000.50", "payee": "某公司"})
    assert good.status_code == 302
    manage = client.get(good.headers["Location"]).get_data(as_text=True)
    assert "12,000.50" in manage
    # Fund 200,000 − spent 12,000.50 − committed (80,000 + 47,999.50 + 50,000) = 10,000.
    assert "¥10,000<" in client.get("/tracking/ledger/ca/2025").get_data(as_text=True)


def test_closed_cycles_are_archived(built, client, auth):
    built.cycle.phase = "closed"
    db.session.commit()
    response = pay(client, auth.headers("staff-ca"), built.started, 100)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "cycle_closed"


def test_admin_approval_page(built, client, auth):
    auth.login("admin")
    page = client.get("/tracking/ledger/ca/2025", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Approve spending beyond the fund or a project" in page
    assert f'<option value="{built.started.id}">The cost of “ca道路修补”</option>' in page
    refused = client.post("/tracking/ledger/ca/2025/approvals", data={"amount": "-5", "reason": "x"})
    assert refused.status_code == 422 and rows(FundApproval) == {"fund_approval": 0}
    unknown = client.post("/tracking/ledger/ca/2025/approvals", data={"project": "99999", "amount": "5", "reason": "x"})
    assert unknown.status_code == 422 and rows(FundApproval) == {"fund_approval": 0}
    too_much = client.post("/tracking/ledger/ca/2025/approvals", headers=EN,
                           data={"project": str(built.started.id), "amount": "10000.01", "reason": "材料涨价"})
    assert too_much.status_code == 422 and "beyond the year&#39;s fund first" in too_much.get_data(as_text=True)
    assert rows(FundApproval) == {"fund_approval": 0}
    done = client.post("/tracking/ledger/ca/2025/approvals", data={"amount": "5000", "reason": "追加"})
    assert done.status_code == 302 and rows(FundApproval) == {"fund_approval": 1}
    for_project = client.post("/tracking/ledger/ca/2025/approvals",
                              data={"project": str(built.started.id), "amount": "15000", "reason": "材料涨价"})
    assert for_project.status_code == 302
    assert db.session.scalar(select(FundApproval.project_id).order_by(FundApproval.id.desc())) == built.started.id


# --- Ratings -----------------------------------------------------------------------------------------

def test_a_resident_rates_a_completed_project_once(built, client, auth):
    headers = auth.headers("resident-ca-1")
    url = f"/api/v1/projects/{built.done.id}/rating"
    first = client.post(url, json={"score": 4, "comment": "很好"}, headers=headers)
    assert first.status_code == 201 and first.get_json() == {"score": 4, "comment": "很好"}
    again = client.post(url, json={"score": 5}, headers=headers | EN)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_rated"
    assert "once" in again.get_json()["error"]["message"]
    assert rows(ProjectRating) == {"project_rating": 1}
    client.post(url, json={"score": 2}, headers=auth.headers("resident-ca-2"))
    detail = client.get(f"/api/v1/projects/{built.done.id}").get_json()
    assert detail["rating"] == {"count": 2, "average": 3.0}


def test_the_database_refuses_a_second_rating(built, world):
    from sqlalchemy.exc import IntegrityError

    resident_id = world.a.residents[0].resident_id
    db.session.add(ProjectRating(project_id=built.done.id, resident_id=resident_id, score=3))
    db.session.flush()
    db.session.add(ProjectRating(project_id=built.done.id, resident_id=resident_id, score=4))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize("user, project_attr, body, status, code", [
    ("resident-ca-1", "done", {"score": 0}, 422, "bad_score"),
    ("resident-ca-1", "done", {"score": 6}, 422, "bad_score"),
    ("resident-ca-1", "done", {"score": "5"}, 422, "bad_score"),
    ("resident-ca-1", "done", {"score": 4.5}, 422, "bad_score"),
    ("resident-ca-1", "done", {"score": True}, 422, "bad_score"),
    ("resident-ca-1", "done", {"score": 4, "comment": "长" * 501}, 422, "too_long"),
    ("resident-ca-1", "started", {"score": 4}, 409, "not_completed"),
    ("resident-cb-1", "done", {"score": 4}, 403, "forbidden"),
    ("staff-ca", "done", {"score": 4}, 403, "forbidden"),
])
def test_rating_refusals(built, client, auth, user, project_attr, body, status, code):
    response = client.post(f"/api/v1/projects/{getattr(built, project_attr).id}/rating", json=body,
                           headers=auth.headers(user))
    assert response.status_code == status and response.get_json()["error"]["code"] == code
    assert rows(ProjectRating) == {"project_rating": 0}


def test_a_resident_who_moved_away_cannot_rate(built, client, auth, world):
    headers = auth.headers("resident-ca-1")
    world.a.residents[0].resident.status = "moved"
    db.session.commit()
    assert client.post(f"/api/v1/projects/{built.done.id}/rating", json={"score": 5},
                       headers=headers).status_code == 403


def test_rating_on_the_project_page(built, client, auth):
    url = f"/tracking/projects/{built.done.id}"
    assert "Rate this project" not in client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    auth.login("resident-ca-1")
    page = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Rate this project" in page
    bad = client.post(f"{url}/rating", data={"comment": "没选分"}, headers={"Accept-Language": "en"})
    assert bad.status_code == 422 and "Choose a score from 1 to 5" in bad.get_data(as_text=True)
    assert client.post(f"{url}/rating", data={"score": "5", "comment": "灯很亮"}).status_code == 302
    page = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "You rated this project 5 of 5" in page and "灯很亮" in page
    again = client.post(f"{url}/rating", data={"score": "1"}, headers={"Accept-Language": "en"})
    assert again.status_code == 409 and "already rated" in again.get_data(as_text=True)
    assert rows(ProjectRating) == {"project_rating": 1}


# --- The project page ----------------------------------------------------------------------------

def test_project_page_tells_the_story(built, client, auth, factory):
    headers = auth.headers("staff-ca")
    client.post(f"/api/v1/projects/{built.done.id}/milestones", json={"date": local_today().isoformat(),
                                                                     "text": "器材安装完毕"}, headers=headers)
    pay(client, headers, built.done, 48_000, payee="株洲体育器材公司")
    client.post(f"/api/v1/projects/{built.done.id}/status", json={
        "status": "accepted", "accepted_on": local_today().isoformat(), "panel": "居民代表五人"}, headers=headers)
    page = client.get(f"/tracking/projects/{built.done.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for text in ("ca健身器材", "90", "50,000", "48,000", "器材安装完毕", "株洲体育器材公司", "居民代表五人",
                 "Funded by the residents", "3 of 4"):
        assert text in page, text
    detail = client.get(f"/api/v1/projects/{built.done.id}").get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["funded", "milestone", "completed", "accepted"]
    assert detail["spent"] == "48000.00" and detail["acceptance"]["panel"] == "居民代表五人"


def test_projects_not_funded_have_no_tracking_page(built, world, client):
    assert client.get(f"/tracking/projects/{world.a.projects[0].id}").status_code == 404
    assert client.get(f"/api/v1/projects/{world.a.projects[0].id}").get_json()["error"]["code"] == "unknown_project"
    assert client.get("/tracking/projects/999999").status_code == 404


# --- The archive ---------------------------------------------------------------------------------

@pytest.fixture()
def archive(built, factory, world):
    """Completed projects over two years and both communities, one with a formula-like title."""
    old = factory.cycle(world.a.community, year=2020, phase="closed")
    factory.project(old, "=HYPERLINK(\"http://evil\")路灯", 30_000, status="accepted", votes=50,
                    completed_at=utcnow(), accepted_at=utcnow())
    factory.project(old, "+老旧管网更换", 30_000, status="completed", votes=40, completed_at=utcnow())
    lamp = factory.project(old, "楼道声控灯", 20_000, status="accepted", votes=30, completed_at=utcnow(),
                           accepted_at=utcnow())
    lamp.category = "lighting"
    db.session.commit()
    return old


def test_archive_lists_and_filters(archive, client):
    def titles(query=""):
        response = client.get("/archive" + query, headers={"Accept-Language": "en"})
        assert response.status_code == 200
        text = response.get_data(as_text=True)
        return {t for t in ("ca健身器材", "cb书屋", "HYPERLINK", "老旧管网", "楼道声控灯", "ca路灯安装") if t in text}

    assert titles() == {"ca健身器材", "cb书屋", "HYPERLINK", "老旧管网", "楼道声控灯"}
    assert titles("?year=2020") == {"HYPERLINK", "老旧管网", "楼道声控灯"}
    assert titles("?community=cb") == {"cb书屋"}
    assert titles("?sub_district=sd&year=2025") == {"ca健身器材", "cb书屋"}
    assert titles("?category=lighting") == {"楼道声控灯"}
    assert titles("?q=%E7%81%AF") == {"HYPERLINK", "楼道声控灯"}          # 灯
    assert titles("?q=%25") == set()                                     # a literal %, not a wildcard
    assert titles("?state=underway") == {"ca路灯安装"}           # funded; and in progress:
    text = client.get("/archive?state=underway").get_data(as_text=True)
    assert "ca道路修补" in text and "ca健身器材" not in text


@pytest.mark.parametrize("query", ["?year=abc", "?community=zz", "?category=rocket", "?sub_district=x",
                                   "?page=0", "?page=x", "?state=everything"])
def test_archive_refuses_bad_filters(archive, client, query):
    response = client.get("/archive" + query, headers={"Accept-Language": "en"})
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)
    assert client.get("/archive.csv" + query).status_code == 400


def test_archive_pages(archive, client, factory, world):
    for n in range(25):
        factory.project(archive, f"批量项目{n:02d}", 1_000, status="completed", votes=n, completed_at=utcnow())
    db.session.commit()
    first = client.get("/archive?year=2020", headers={"Accept-Language": "en"}).get_data(as_text=True)
    second = client.get("/archive?year=2020&page=2", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "<strong>28</strong>" in first and "page 1 of 2" in first and "page 2 of 2" in second
    on_first = first.count('class="archive-item"')
    on_second = second.count('class="archive-item"')
    assert (on_first, on_second) == (20, 8)
    assert 'rel="next"' in first and "page=2" in first and "year=2020" in first


def test_csv_download(archive, client):
    response = client.get("/archive.csv?year=2020", headers={"Accept-Language": "en"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0][:3] == ["Project id", "Title", "Sub-district"] and len(table) == 4
    titles = {row[1] for row in table[1:]}
    assert "'=HYPERLINK(\"http://evil\")路灯" in titles and "'+老旧管网更换" in titles and "楼道声控灯" in titles
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in table for cell in row)


def test_xlsx_download(archive, client):
    response = client.get("/archive.xlsx?community=ca", headers={"Accept-Language": "en"})
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    data = response.get_data()
    response.close()
    workbook = load_workbook(io.BytesIO(data), read_only=True)
    table = [list(r) for r in workbook.active.iter_rows(values_only=True)]
    workbook.close()
    assert table[0][1] == "Title" and len(table) == 5      # 3 of 2020, ca健身器材 of 2025
    titles = {row[1] for row in table[1:]}
    assert "'=HYPERLINK(\"http://evil\")路灯" in titles and "ca健身器材" in titles
    costs = {row[1]: row[8] for row in table[1:]}
    assert float(costs["楼道声控灯"]) == 20000


# --- GET /api/v1/projects (SPEC §5) -----------------------------------------------------------

def test_api_projects_shape_and_filters(archive, client):
    body = client.get("/api/v1/projects").get_json()
    assert set(body) == {"total", "items"} and body["total"] == 7     # ca 2025: 3, cb 2025: 1, ca 2020: 3
    item = next(i for i in body["items"] if i["title"] == "ca健身器材")
    assert item == {"id": item["id"], "title": "ca健身器材", "community": "ca", "year": 2025, "cost": "50000.00",
                    "status": "completed", "votes": 90}
    completed = client.get("/api/v1/projects?status=completed").get_json()
    assert completed["total"] == 5 and {i["status"] for i in completed["items"]} == {"completed", "accepted"}
    assert client.get("/api/v1/projects?status=accepted").get_json()["total"] == 2
    assert client.get("/api/v1/projects?status=funded").get_json()["total"] == 1
    assert client.get("/api/v1/projects?status=in_progress").get_json()["total"] == 1
    assert client.get("/api/v1/projects?community=cb").get_json()["total"] == 1
    assert client.get("/api/v1/projects?status=completed&community=ca&year=2020").get_json()["total"] == 3
    assert client.get("/api/v1/projects?year=2019").get_json() == {"total": 0, "items": []}


@pytest.mark.parametrize("query, code", [
    ("status=rejected", "bad_status"), ("status=on_ballot", "bad_status"), ("status=done", "bad_status"),
    ("community=zz", "unknown_community"), ("year=20x", "bad_year"), ("year=21", "bad_year"),
    ("year=-2020", "bad_year"), ("page=0", "bad_page"), ("page=-1", "bad_page"), ("page=abc", "bad_page"),
    ("page=1.5", "bad_page"),
])
def test_api_projects_refuses_bad_filters(built, client, query, code):
    response = client.get(f"/api/v1/projects?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]


def test_api_projects_pages(built, client, factory):
    for n in range(60):
        factory.project(built.cycle, f"p{n}", 100, status="completed", votes=1, completed_at=utcnow())
    db.session.commit()
    first = client.get("/api/v1/projects?status=completed").get_json()
    second = client.get("/api/v1/projects?status=completed&page=2").get_json()
    beyond = client.get("/api/v1/projects?status=completed&page=3").get_json()
    assert first["total"] == second["total"] == beyond["total"] == 62
    assert (len(first["items"]), len(second["items"]), beyond["items"]) == (50, 12, [])
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


def test_openapi_says_the_page_size(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "50 per page" in spec["paths"]["/api/v1/projects"]["get"]["summary"]
    assert "security" not in spec["paths"]["/api/v1/projects"]["get"]
    assert "security" in spec["paths"]["/api/v1/projects/{project_id}/spending"]["post"]


# --- The dashboard -----------------------------------------------------------------------------

def test_dashboard(archive, built, client, auth, world, factory):
    pay(client, auth.headers("staff-ca"), built.done, 40_000)
    db.session.add_all([
        RollEntry(cycle_id=world.a.cycle.id, resident_id=world.a.residents[0].resident_id, has_voted=True,
                  channel="online"),
        RollEntry(cycle_id=world.a.cycle.id, resident_id=world.a.residents[1].resident_id, has_voted=False),
    ])
    db.session.commit()
    text = client.get("/dashboard", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Completed projects per year" in text and "<svg" in text and "<caption" in text
    # 2020: three completed; 2025: two. Turnout: 1 of ca's 3 active residents.
    assert re.search(r'>2020</a></th><td><div class="barline"><svg[^>]*>.*?</svg><span class="num">3</span>', text)
    assert re.search(r'>2025</a></th><td><div class="barline"><svg[^>]*>.*?</svg><span class="num">2</span>', text)
    assert '1 / 3</span>' in text and '33.3%</span>' in text
    assert "¥40,000 / ¥400,000" in text        # ca: funds of 2020 and 2025, 40,000 spent
    by_year = client.get("/dashboard?year=2025", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "¥40,000 / ¥200,000" in by_year
    assert client.get("/dashboard?year=1999").status_code == 200


def test_dashboard_without_turnout(built, client):
    text = client.get("/dashboard", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No cycle has a voter roll yet." in text
