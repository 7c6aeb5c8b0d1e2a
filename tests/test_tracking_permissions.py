"""Who may do what on every tracking route: each role, of the project's community and of another.

The expected status of every (route, role) is written once, below, as data. Write routes are called
with valid input, so a refusal can only come from access control; "ok" is the route's success.
"""
from __future__ import annotations

import io

import pytest
from PIL import Image

from voting.extensions import db
from voting.tracking.models import Milestone, MilestonePhoto
from voting.tracking.services import local_today

from test_tracking import build_implementation

ROLES = ("anonymous", "resident-ca-1", "resident-cb-1", "grid-ca-1", "staff-ca", "staff-cb", "admin", "auditor")

# Shorthands: who succeeds on a route; everyone else signed in gets 403, the anonymous 302 (pages: to
# sign-in) or 401 (API).
EVERYONE = "everyone"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(out, "JPEG")
    return out.getvalue()


# (method, route, allowed, success status). {funded}, {done}, {photo} are filled in per test.
MATRIX = [
    ("GET", "/archive", EVERYONE, 200),
    ("GET", "/archive.csv", EVERYONE, 200),
    ("GET", "/archive.xlsx", EVERYONE, 200),
    ("GET", "/dashboard", EVERYONE, 200),
    ("GET", "/tracking/projects/{done}", EVERYONE, 200),
    ("GET", "/tracking/ledger/ca", EVERYONE, 200),
    ("GET", "/tracking/ledger/ca/2025", EVERYONE, 200),
    ("GET", "/tracking/photos/{photo}", EVERYONE, 200),
    ("GET", "/tracking/projects/{funded}/manage", ("staff-ca",), 200),
    ("POST", "/tracking/projects/{funded}/status", ("staff-ca",), 302),
    ("POST", "/tracking/projects/{funded}/milestones", ("staff-ca",), 302),
    ("POST", "/tracking/projects/{funded}/spending", ("staff-ca",), 302),
    ("POST", "/tracking/projects/{done}/rating", ("resident-ca-1",), 302),
    ("POST", "/tracking/ledger/ca/2025/approvals", ("admin",), 302),
    ("GET", "/api/v1/projects", EVERYONE, 200),
    ("GET", "/api/v1/projects/{done}", EVERYONE, 200),
    ("GET", "/api/v1/ledger/ca/2025", EVERYONE, 200),
    ("POST", "/api/v1/projects/{funded}/status", ("staff-ca",), 200),
    ("POST", "/api/v1/projects/{funded}/milestones", ("staff-ca",), 201),
    ("POST", "/api/v1/projects/{funded}/spending", ("staff-ca",), 201),
    ("POST", "/api/v1/projects/{done}/rating", ("resident-ca-1",), 201),
    ("POST", "/api/v1/ledger/ca/2025/approvals", ("admin",), 201),
]


def body_for(route: str) -> dict:
    """Valid input for each write route (pages take forms, the API JSON)."""
    today = local_today().isoformat()
    api = route.startswith("/api/")
    if route.endswith("/status"):
        return {"status": "in_progress"} if api else {"to_status": "in_progress"}
    if route.endswith("/milestones"):
        return {"date": today, "text": "进场施工"} if api else {"happened_on": today, "text": "进场施工"}
    if route.endswith("/spending"):
        base = {"amount": "1000", "payee": "某公司"}
        return base | ({"date": today} if api else {"spent_on": today})
    if route.endswith("/rating"):
        return {"score": 5, "comment": "好"} if api else {"score": "5", "comment": "好"}
    if route.endswith("/approvals"):
        return {"amount": "1000", "reason": "材料涨价"}
    return {}


def expected(allowed, success: int, role: str, api: bool) -> int:
    if allowed == EVERYONE or role in allowed:
        return success
    if role == "anonymous":
        return 401 if api else 302
    return 403


@pytest.fixture()
def setting(world, factory, app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    built = build_implementation(factory, world)
    name = "0" * 32 + ".jpg"
    (tmp_path / name).write_bytes(jpeg())
    milestone = factory.add(Milestone(project_id=built.started.id, happened_on=local_today(), text="进场"))
    factory.add(MilestonePhoto(milestone_id=milestone.id, filename=name, width=8, height=8))
    db.session.commit()
    return {"funded": built.funded.id, "done": built.done.id, "photo": name}


def call(app, role: str, method: str, url: str, body: dict):
    client = app.test_client()
    headers = {}
    api = url.startswith("/api/")
    if role != "anonymous":
        if api:
            token = client.post("/api/v1/auth/token", json={"username": role, "password": "Test-Pass-1"}).get_json()
            headers["Authorization"] = f"Bearer {token['token']}"
        else:
            assert client.post("/login", data={"username": role, "password": "Test-Pass-1"}).status_code == 302
    if method == "GET":
        response = client.get(url, headers=headers)
    elif api:
        response = client.post(url, json=body, headers=headers)
    else:
        response = client.post(url, data=body, headers=headers)
    response.close()
    return response.status_code


@pytest.mark.parametrize("method, route, allowed, success", MATRIX, ids=[f"{m} {r}" for m, r, _a, _s in MATRIX])
def test_every_role_on_every_route(setting, app, client, method, route, allowed, success):
    """Each role, in turn, on one route; the staff of another community get 403 on every write."""
    url = route.format(**setting)
    body = body_for(route)
    actual = {role: call(app, role, method, url, body) for role in ROLES}
    want = {role: expected(allowed, success, role, url.startswith("/api/")) for role in ROLES}
    assert actual == want


def test_the_matrix_covers_every_tracking_route(app):
    """A new tracking route must be added to the matrix above."""
    ours = set()
    for rule in app.url_map.iter_rules():
        module = app.view_functions[rule.endpoint].__module__
        if module.startswith("voting.tracking"):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                ours.add((method, rule.rule.replace("<int:project_id>", "{id}").replace("<code>", "ca")
                          .replace("<int:year>", "2025").replace("<name>", "{photo}")))
    listed = {(m, r.replace("{funded}", "{id}").replace("{done}", "{id}")) for m, r, _a, _s in MATRIX}
    assert ours == listed


def test_staff_of_another_community_change_nothing(setting, app, client):
    """Every write by staff-cb on community ca's projects is refused and leaves no row behind."""
    from sqlalchemy import func, select

    from voting.tracking.models import FundApproval, Milestone, ProgressChange, ProjectRating, SpendingEntry

    def count():
        return [db.session.scalar(select(func.count()).select_from(m))
                for m in (FundApproval, Milestone, ProgressChange, ProjectRating, SpendingEntry)]

    before = count()
    for method, route, _allowed, _success in MATRIX:
        if method == "POST":
            url = route.format(**setting)
            assert call(app, "staff-cb", method, url, body_for(route)) == 403, url
    db.session.expire_all()
    assert count() == before
