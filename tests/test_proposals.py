"""Proposals: submitting them (page and API, with photos), reviewing them, who sees what."""
from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from voting.extensions import db
from voting.proposals.models import Project, ProjectPhoto
from voting.proposals.services import submit_proposal
from voting.storage import StoredFile, get

GOOD = {"title": "3栋后面小路加装路灯", "description": "晚上太黑，老人出门不安全。", "category": "lighting",
        "location": "3栋后面", "estimated_cost": "12000.50"}


def image_bytes(fmt="JPEG", size=(64, 48), color="red", exif=False, mode="RGB") -> bytes:
    out = io.BytesIO()
    image = Image.new(mode, size, color)
    extra = {}
    if exif:
        data = Image.Exif()
        data[0x010F] = "PhoneMaker"       # Make
        data[0x0112] = 6                  # Orientation: rotate 90° clockwise to view
        extra["exif"] = data.tobytes()
    image.save(out, fmt, **extra)
    return out.getvalue()


def counts(folder) -> tuple[int, int, int, int]:
    """Proposals, photo rows, stored files and files in the old upload folder (which stays empty):
    what a refusal must leave unchanged."""
    files = len([p for p in folder.iterdir() if p.is_file()]) if folder.exists() else 0
    return (db.session.scalar(select(func.count()).select_from(Project)),
            db.session.scalar(select(func.count()).select_from(ProjectPhoto)),
            db.session.scalar(select(func.count()).select_from(StoredFile)), files)


@pytest.fixture()
def uploads(app, tmp_path):
    """The folder where earlier releases kept photos: nothing is written there any more."""
    folder = tmp_path / "uploads"
    app.config["UPLOAD_FOLDER"] = str(folder)
    return folder


@pytest.fixture()
def collecting(world, factory):
    """Next year's cycles of both communities, collecting proposals."""
    cycles = {"ca": factory.cycle(world.a.community, 2027, phase="collection"),
              "cb": factory.cycle(world.b.community, 2027, phase="collection")}
    db.session.commit()
    return cycles


def multipart(fields: dict, photos) -> dict:
    """A multipart body built in memory (the test client spools big ones to a file it never closes)."""
    values = MultiDict(fields)
    for name, raw in photos:
        values.add("photos", FileStorage(io.BytesIO(raw), filename=name,
                                         content_type="application/octet-stream"))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def post_form(client, cycle, fields=GOOD, photos=()):
    return client.post(f"/cycles/{cycle.id}/propose", headers={"Accept-Language": "en"},
                       **multipart(fields, photos))


# --- Submitting -------------------------------------------------------------------------------

def test_resident_submits_through_the_api(collecting, client, auth):
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", json=GOOD,
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 201
    body = response.get_json()
    assert body == {"id": body["id"], "status": "submitted"}
    project = db.session.get(Project, body["id"])
    assert (project.title, project.category, project.location) == (GOOD["title"], "lighting", "3栋后面")
    assert project.estimated_cost_fen == 1_200_050 and project.cost_fen is None
    assert project.submitted_by.username == "resident-ca-1"


def test_staff_submit_too_but_not_grid_workers(collecting, client, auth):
    path = f"/api/v1/cycles/{collecting['ca'].id}/proposals"
    assert client.post(path, json=GOOD, headers=auth.headers("staff-ca")).status_code == 201
    assert client.post(path, json=GOOD, headers=auth.headers("grid-ca-1")).status_code == 403
    assert client.post(path, json=GOOD, headers=auth.headers("admin")).status_code == 403


def test_resident_submits_from_the_page_with_photos(collecting, client, auth, uploads):
    auth.login("resident-ca-1")
    assert client.get(f"/cycles/{collecting['ca'].id}/propose").status_code == 200
    big = image_bytes(size=(4000, 3000), exif=True)
    photos = [("IMG_0001.JPG", big), ("plan.png", image_bytes("PNG"))]
    response = post_form(client, collecting["ca"], photos=photos)
    assert response.status_code == 302 and response.headers["Location"].endswith("/my/proposals")
    project = db.session.scalar(select(Project).where(Project.title == GOOD["title"]))
    assert [p.uploaded_by_id for p in project.photos] == [project.submitted_by_id] * 2
    first = project.photos[0]
    assert first.filename.endswith(".jpg") and "IMG" not in first.filename and len(first.filename) == 36
    assert counts(uploads)[2:] == (2, 0)
    with Image.open(io.BytesIO(get(db.session, first.filename).data)) as stored:
        assert stored.format == "JPEG" and max(stored.size) == 1600
        assert (stored.width, stored.height) == (first.width, first.height) == (1200, 1600)  # turned upright
        assert not stored.getexif() and "exif" not in stored.info
    page = client.get("/my/proposals").get_data(as_text=True)
    assert GOOD["title"] in page and first.filename in page


def test_a_transparent_png_and_a_webp_are_accepted(collecting, client, auth, uploads):
    auth.login("resident-ca-1")
    photos = [("a.png", image_bytes("PNG", mode="RGBA", color=(0, 0, 0, 0))), ("b.webp", image_bytes("WEBP"))]
    assert post_form(client, collecting["ca"], photos=photos).status_code == 302
    assert counts(uploads) == (9, 2, 2, 0)  # the world's 8 projects and this one


@pytest.mark.parametrize("change, code", [
    ({"estimated_cost": "0"}, "cost_not_positive"),
    ({"estimated_cost": "-5"}, "bad_amount"),  # no sign: an amount is digits
    ({"estimated_cost": "200000.01"}, "cost_above_fund"),
    ({"estimated_cost": "abc"}, "bad_amount"),
    ({"estimated_cost": 1.505}, "bad_amount"),  # a JSON number with more than two decimals
    ({"estimated_cost": "12.345"}, "bad_amount"),
    ({"estimated_cost": ""}, "missing_estimated_cost"),
    ({"title": ""}, "missing_title"),
    ({"title": "   "}, "missing_title"),
    ({"title": None}, "missing_title"),
    ({"title": "x" * 121}, "too_long"),
    ({"title": 42}, "not_text"),
    ({"description": ""}, "missing_description"),
    ({"description": "x" * 4001}, "too_long"),
    ({"location": "x" * 201}, "too_long"),
    ({"category": "fireworks"}, "unknown_category"),
    ({"category": None}, "unknown_category"),
])
def test_bad_proposals_are_refused_by_the_api_and_nothing_is_saved(collecting, client, auth, uploads, change,
                                                                   code):
    before = counts(uploads)
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", json=GOOD | change,
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == code and response.get_json()["error"]["message"]
    assert counts(uploads) == before


def test_the_api_wants_a_json_object(collecting, client, auth):
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", data="title=x",
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize("fields, photos, field_error", [
    (GOOD | {"estimated_cost": "0"}, [], "more than zero"),
    (GOOD | {"estimated_cost": "250000"}, [], "200,000"),
    (GOOD | {"title": ""}, [], "title is required"),
    (GOOD | {"category": ""}, [], "Choose one of the categories"),
    (GOOD, [("photo.jpg", b"this is not an image, whatever the name says")], "not a photo we can read"),
    (GOOD, [("evil.jpg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>")],
     "not a photo we can read"),
    (GOOD, [("a.gif", image_bytes("GIF"))], "not a photo we can read"),
    (GOOD, [("cut.jpg", image_bytes(size=(640, 480))[:300])], "not a photo we can read"),
    (GOOD, [("huge.jpg", b"\xff\xd8" + b"0" * (8 * 2**20))], "larger than 8 MB"),
    (GOOD, [("wide.png", image_bytes("PNG", size=(8000, 6000)))], "megapixels"),
    (GOOD, [(f"p{n}.jpg", image_bytes()) for n in range(5)], "at most 4 photos"),
])
def test_bad_proposals_are_shown_on_the_form_and_nothing_is_saved(collecting, client, auth, uploads, fields,
                                                                  photos, field_error):
    auth.login("resident-ca-1")
    before = counts(uploads)
    response = post_form(client, collecting["ca"], fields, [("ok.jpg", image_bytes()), *photos])
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert field_error in text and 'aria-invalid="true"' in text
    assert GOOD["description"] in text or not fields.get("description")  # what was typed is kept
    assert counts(uploads) == before


def test_photos_too_large_together_get_a_clear_page_and_nothing_is_saved(collecting, client, auth, uploads):
    auth.login("resident-ca-1")
    before = counts(uploads)
    noise = [(f"{n}.jpg", b"\xff\xd8" + bytes(14 * 2**20)) for n in range(3)]  # 42 MB: past the request limit
    response = post_form(client, collecting["ca"], photos=noise)
    assert response.status_code == 413 and "fewer or smaller photos" in response.get_data(as_text=True)
    assert counts(uploads) == before


def test_a_bomb_of_pixels_is_refused_before_decoding(collecting, client, auth, uploads):
    auth.login("resident-ca-1")
    raw = image_bytes("PNG", size=(12000, 12000), mode="1", color=1)  # 144 megapixels in a few kilobytes
    before = counts(uploads)
    response = post_form(client, collecting["ca"], photos=[("bomb.png", raw)])
    assert response.status_code == 422 and "megapixels" in response.get_data(as_text=True)
    assert counts(uploads) == before


def test_photos_are_removed_when_the_transaction_does_not_commit(collecting, app, uploads, world):
    with app.test_request_context(method="POST"):
        submit_proposal(db.session, world.a.residents[0], collecting["ca"], GOOD,
                        [("a.jpg", image_bytes()), ("b.jpg", image_bytes())])
        assert counts(uploads)[1:] == (2, 2, 0)
        db.session.rollback()
    assert counts(uploads) == (8, 0, 0, 0)


def test_nothing_is_proposed_outside_collection(world, client, auth, uploads):
    voting = world.a.cycle
    before = counts(uploads)
    response = client.post(f"/api/v1/cycles/{voting.id}/proposals", json=GOOD,
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_collecting"
    auth.login("resident-ca-1")
    assert client.get(f"/cycles/{voting.id}/propose").status_code == 409
    assert post_form(client, voting, photos=[("a.jpg", image_bytes())]).status_code == 409
    assert counts(uploads) == before


def test_residents_of_another_community_cannot_propose(collecting, client, auth):
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", json=GOOD,
                           headers=auth.headers("resident-cb-1"))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_eligible"


def test_a_resident_who_moved_away_cannot_propose(collecting, world, client, auth):
    world.a.residents[0].resident.status = "moved"
    db.session.commit()
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", json=GOOD,
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 403


def test_one_resident_has_a_limit_of_proposals(collecting, factory, world, client, auth):
    from voting.proposals.services import MAX_PROPOSALS_PER_RESIDENT

    for n in range(MAX_PROPOSALS_PER_RESIDENT):
        factory.project(collecting["ca"], f"第{n}个", 100, status="submitted",
                        submitted_by_id=world.a.residents[0].id)
    db.session.commit()
    response = client.post(f"/api/v1/cycles/{collecting['ca'].id}/proposals", json=GOOD,
                           headers=auth.headers("resident-ca-1"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "too_many_proposals"


# --- Photos through the API, and serving them ----------------------------------------------------

def make_proposal(client, auth, cycle, username="resident-ca-1") -> int:
    response = client.post(f"/api/v1/cycles/{cycle.id}/proposals", json=GOOD, headers=auth.headers(username))
    assert response.status_code == 201
    return response.get_json()["id"]


def add_photos(client, auth, project_id, photos, username="resident-ca-1"):
    return client.post(f"/api/v1/proposals/{project_id}/photos", headers=auth.headers(username),
                       **multipart({}, photos))


def test_the_author_adds_photos_through_the_api_up_to_four(collecting, client, auth, uploads):
    project_id = make_proposal(client, auth, collecting["ca"])
    response = add_photos(client, auth, project_id, [("a.jpg", image_bytes()), ("b.jpg", image_bytes())])
    assert response.status_code == 201 and len(response.get_json()["photos"]) == 2
    before = counts(uploads)
    response = add_photos(client, auth, project_id, [(f"{n}.jpg", image_bytes()) for n in range(3)])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "too_many_photos"
    response = add_photos(client, auth, project_id, [("x.jpg", b"GIF89a not really")])
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "not_an_image"
    for someone_else in ("resident-ca-2", "staff-ca"):
        response = add_photos(client, auth, project_id, [("c.jpg", image_bytes())], someone_else)
        assert response.status_code == 403
    assert counts(uploads) == before


def photo_url(project_id) -> str:
    photo = db.session.scalar(select(ProjectPhoto).where(ProjectPhoto.project_id == project_id))
    return f"/photos/{photo.filename}"


def status_of(client, url) -> int:
    with client.get(url) as response:
        return response.status_code


def test_photos_are_private_until_the_proposal_is_on_the_ballot(collecting, app, client, auth, uploads):
    project_id = make_proposal(client, auth, collecting["ca"])
    add_photos(client, auth, project_id, [("a.jpg", image_bytes())])
    url = photo_url(project_id)
    assert status_of(client, url) == 302  # anonymous: sign in first
    expectations = {"resident-ca-1": 200, "staff-ca": 200, "admin": 200,
                    "resident-ca-2": 403, "staff-cb": 403, "grid-ca-1": 403, "auditor": 403}
    for username, expected in expectations.items():
        browser = app.test_client()
        browser.post("/login", data={"username": username, "password": "Test-Pass-1"})
        assert status_of(browser, url) == expected, username
    project = db.session.get(Project, project_id)
    project.status, project.cost_fen = "rejected", None
    project.review_reason = "不在本社区范围"
    db.session.commit()
    assert status_of(client, url) == 302  # rejected: the decision is public, the photos are not
    assert status_of(client, f"/proposals/{project_id}") == 200
    project.status, project.cost_fen = "on_ballot", project.estimated_cost_fen
    db.session.commit()
    with client.get(url) as response:
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.data[:2] == b"\xff\xd8"


def test_a_photo_is_served_byte_for_byte_and_cached_only_once_public(collecting, app, client, auth, uploads):
    project_id = make_proposal(client, auth, collecting["ca"])
    add_photos(client, auth, project_id, [("a.jpg", image_bytes())])
    url = photo_url(project_id)
    stored = get(db.session, url.rpartition("/")[2])
    author = app.test_client()
    author.post("/login", data={"username": "resident-ca-1", "password": "Test-Pass-1"})
    with author.get(url) as response:  # not public yet: no cache may keep it
        assert response.status_code == 200 and response.data == stored.data
        assert response.headers["Cache-Control"] == "private, no-store" and "ETag" not in response.headers
    project = db.session.get(Project, project_id)
    project.status, project.cost_fen = "on_ballot", project.estimated_cost_fen
    db.session.commit()
    with client.get(url) as response:
        assert response.status_code == 200 and response.data == stored.data
        assert response.headers["Content-Type"] == "image/jpeg"
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["ETag"] == f'"{stored.sha256}"'
        assert response.headers["Last-Modified"]
    with client.get(url, headers={"If-None-Match": f'"{stored.sha256}"'}) as response:
        assert response.status_code == 304
    assert counts(uploads)[3] == 0


@pytest.mark.parametrize("path", [
    "/photos/..%2Fsecret_key", "/photos/../secret_key", "/photos/%2e%2e%2fsecret_key", "/photos/secret_key",
    "/photos/" + "a" * 32 + ".jpg", "/photos/" + "A" * 32 + ".jpg", "/photos/" + "a" * 32 + ".png",
    "/photos/.upload-x",
])
def test_only_stored_photos_are_served(world, client, uploads, path):
    uploads.mkdir(parents=True, exist_ok=True)
    (uploads / ("a" * 32 + ".png")).write_bytes(b"<html>")
    with client.get(path) as response:
        assert response.status_code == 404, path


# --- Review -----------------------------------------------------------------------------------

@pytest.fixture()
def in_review(world, factory):
    """Community ca's cycle under review, with three proposals awaiting review."""
    cycle = world.a.cycle
    cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at = "review", None, None
    for project in world.a.projects:
        project.status, project.cost_fen = "submitted", None
    db.session.commit()
    return cycle


def review(client, auth, project, username="staff-ca", **body):
    return client.post(f"/api/v1/proposals/{project.id}/review", json=body, headers=auth.headers(username))


def test_staff_put_a_proposal_on_the_ballot_at_the_estimate_or_a_reviewed_cost(in_review, world, client,
                                                                                 auth):
    first, second = world.a.projects[:2]
    response = review(client, auth, first, decision="ballot", reason="")
    assert response.status_code == 200 and response.get_json()["status"] == "on_ballot"
    assert response.get_json()["cost"] == "80000.00"
    response = review(client, auth, second, decision="ballot", cost="55000", reason="按实际报价调整")
    assert response.get_json()["cost"] == "55000.00" and response.get_json()["reason"] == "按实际报价调整"
    db.session.expire_all()
    assert second.cost_fen == 5_500_000 and second.estimated_cost_fen == 6_000_000
    assert second.reviewed_by.username == "staff-ca" and second.reviewed_at is not None
    ballot = client.get(f"/api/v1/cycles/{in_review.id}").get_json()["projects"]
    assert [(p["id"], p["cost"]) for p in ballot] == [(first.id, "80000.00"), (second.id, "55000.00")]


def test_a_rejection_needs_a_reason_that_the_public_then_sees(in_review, world, client, auth):
    project = world.a.projects[0]
    for reason in (None, "", "   "):
        response = review(client, auth, project, decision="reject", reason=reason)
        assert response.status_code == 422 and response.get_json()["error"]["code"] == "missing_reason"
    db.session.expire_all()
    assert project.status == "submitted" and project.reviewed_at is None
    response = review(client, auth, project, decision="reject", reason="属于物业维修范围，已转物业公司处理")
    assert response.status_code == 200 and response.get_json()["status"] == "rejected"
    public = client.get(f"/api/v1/cycles/{in_review.id}/proposals").get_json()
    assert [(p["id"], p["status"], p["reason"]) for p in public] == [
        (project.id, "rejected", "属于物业维修范围，已转物业公司处理")]
    assert public[0]["photos"] == []
    page = client.get(f"/cycles/{in_review.id}").get_data(as_text=True)
    assert "属于物业维修范围" in page and world.a.projects[1].title not in page  # undecided ones stay private
    assert "属于物业维修范围" in client.get(f"/proposals/{project.id}").get_data(as_text=True)


@pytest.mark.parametrize("body, code", [
    ({"decision": "ballot", "cost": "0"}, "cost_not_positive"),
    ({"decision": "ballot", "cost": "-100"}, "bad_amount"),
    ({"decision": "ballot", "cost": "200001"}, "cost_above_fund"),
    ({"decision": "ballot", "cost": "cheap"}, "bad_amount"),
    ({"decision": "ballot", "cost": 1000.505}, "bad_amount"),
    ({"decision": "ballot", "cost": "75,000"}, "bad_amount"),  # no separators
    ({"decision": "fund it"}, "unknown_decision"),
    ({}, "missing_decision"),
    ({"decision": "reject", "reason": "x" * 501}, "too_long"),
    ({"decision": "merge"}, "missing_into"),
    ({"decision": "merge", "into": "abc"}, "not_a_number"),
    ({"decision": "merge", "into": 999999}, "bad_merge"),
])
def test_bad_reviews_change_nothing(in_review, world, client, auth, body, code):
    project = world.a.projects[0]
    response = review(client, auth, project, **body)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == code
    db.session.expire_all()
    assert (project.status, project.cost_fen, project.review_reason, project.reviewed_at) == (
        "submitted", None, None, None)


def test_merging_a_duplicate(in_review, world, client, auth):
    keep, duplicate, third = world.a.projects[:3]
    assert review(client, auth, duplicate, decision="merge", into=duplicate.id).status_code == 422
    response = review(client, auth, duplicate, decision="merge", into=keep.id, reason="与另一条建议相同")
    assert response.status_code == 200
    assert response.get_json()["status"] == "merged" and response.get_json()["merged_into"] == keep.id
    response = review(client, auth, third, decision="merge", into=duplicate.id)
    assert response.get_json()["error"]["code"] == "bad_merge"
    # merging the kept one on: what was merged into it follows
    review(client, auth, keep, decision="merge", into=third.id)
    db.session.expire_all()
    assert duplicate.merged_into_id == third.id and keep.merged_into_id == third.id
    assert "与另一条建议相同" in client.get(f"/cycles/{in_review.id}").get_data(as_text=True)


def test_a_proposal_from_another_cycle_is_no_merge_target(in_review, world, client, auth):
    response = review(client, auth, world.a.projects[0], decision="merge", into=world.b.projects[0].id)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "bad_merge"


def test_reviews_happen_only_under_review(world, client, auth):
    response = review(client, auth, world.a.projects[0], decision="reject", reason="太贵")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "not_in_review"


def test_staff_of_another_community_cannot_review(in_review, world, client, auth):
    response = review(client, auth, world.a.projects[0], "staff-cb", decision="reject", reason="不行")
    assert response.status_code == 403
    response = review(client, auth, world.a.projects[0], "admin", decision="reject", reason="不行")
    assert response.status_code == 403


def test_review_from_the_dashboard(in_review, world, client, auth):
    project = world.a.projects[0]
    auth.login("staff-ca")
    page = client.get(f"/cycles/{in_review.id}/manage").get_data(as_text=True)
    assert f'name="p{project.id}-decision"' in page
    response = client.post(f"/proposals/{project.id}/review", data={f"p{project.id}-decision": "reject",
                                                                    f"p{project.id}-reason": ""},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 422 and "reason is required" in response.get_data(as_text=True)
    response = client.post(f"/proposals/{project.id}/review", data={f"p{project.id}-decision": "ballot",
                                                                    f"p{project.id}-cost": "75000"})
    assert response.status_code == 302
    db.session.expire_all()
    assert project.status == "on_ballot" and project.cost_fen == 7_500_000


def test_my_proposals_show_their_status_and_reasons(in_review, world, client, auth):
    first, second = world.a.projects[:2]
    first.submitted_by_id = second.submitted_by_id = world.a.residents[0].id
    db.session.commit()
    review(client, auth, first, decision="ballot", cost="70000")
    review(client, auth, second, decision="reject", reason="预算超出本年度资金")
    mine = client.get("/api/v1/me/proposals", headers=auth.headers("resident-ca-1")).get_json()
    assert {(p["id"], p["status"], p["reason"], p["cost"]) for p in mine} == {
        (first.id, "on_ballot", None, "70000.00"), (second.id, "rejected", "预算超出本年度资金", None)}
    assert client.get("/api/v1/me/proposals", headers=auth.headers("resident-ca-2")).get_json() == []
    auth.login("resident-ca-1", )
    page = client.get("/my/proposals", headers={"Accept-Language": "en"}).get_data(as_text=True)
    for text in ("预算超出本年度资金", "Rejected", "On the ballot", "70,000"):
        assert text in page


def test_the_public_never_sees_proposals_awaiting_review(in_review, world, client, auth):
    body = client.get(f"/api/v1/cycles/{in_review.id}/proposals").get_json()
    assert body == []
    staff = client.get(f"/api/v1/cycles/{in_review.id}/proposals",
                       headers=auth.headers("staff-ca")).get_json()
    assert len(staff) == 4
    assert client.get(f"/proposals/{world.a.projects[0].id}").status_code == 302
    page = client.get(f"/cycles/{in_review.id}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "4 proposals are awaiting review" in page
