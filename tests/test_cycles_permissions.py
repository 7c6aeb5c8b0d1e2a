"""Who may do what: every page and API route of proposals and cycles, for every role, in its own
community and in another. The expected status of each case is written once, in ROUTES."""
from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from voting.extensions import db
from voting.proposals.models import ProjectPhoto
from voting.proposals.photos import ProcessedPhoto, store_photo

# Who calls: the target is always community ca; "…_other" act from community cb.
ACTORS = {
    "anonymous": None, "resident": "resident-ca-1", "resident_other": "resident-cb-1",
    "grid": "grid-ca-1", "grid_other": "grid-cb-1", "staff": "staff-ca", "staff_other": "staff-cb",
    "admin": "admin", "auditor": "auditor",
}
GOOD = {"title": "楼道照明改造", "description": "楼道灯坏了", "category": "lighting",
        "estimated_cost": "8000"}
WINDOW = {"voting_opens_at": "2027-05-01T01:00:00Z", "voting_closes_at": "2027-05-08T10:00:00Z"}
RULES = {"method": "approval", "min_choices": 1, "max_choices": 2, "outcome_rule": "greedy"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    expected: tuple  # one status per actor, in the order of ACTORS
    setup: str = "base"
    json: dict | None = None
    form: dict | None = None
    photo: bool = False


#          anonymous  resident  res_other  grid  grid_other  staff  staff_other  admin  auditor
PUBLIC = (200,) * 9
ONLY_STAFF_API = (401, 403, 403, 403, 403, 200, 403, 403, 403)
ONLY_STAFF_PAGE = (302, 403, 403, 403, 403, 302, 403, 403, 403)
ROUTES = {
    # JSON API
    "api cycle": Route("GET", "/api/v1/cycles/{voting}", PUBLIC),
    "api cycle proposals": Route("GET", "/api/v1/cycles/{voting}/proposals", PUBLIC),
    "api my proposals": Route("GET", "/api/v1/me/proposals", (401, 200, 200, 403, 403, 200, 200, 403, 403)),
    "api open cycle": Route("POST", "/api/v1/communities/ca/cycles",
                            (401, 403, 403, 403, 403, 201, 403, 201, 403), setup="finished",
                            json={"year": 2027}),
    "api propose": Route("POST", "/api/v1/cycles/{collecting}/proposals",
                         (401, 201, 403, 403, 403, 201, 403, 403, 403), json=GOOD),
    "api add photos": Route("POST", "/api/v1/proposals/{submitted}/photos",
                            (401, 201, 403, 403, 403, 403, 403, 403, 403), photo=True),
    "api review": Route("POST", "/api/v1/proposals/{to_review}/review", ONLY_STAFF_API, setup="review",
                        json={"decision": "reject", "reason": "重复"}),
    "api phase": Route("POST", "/api/v1/cycles/{collecting}/phase", ONLY_STAFF_API, json={"phase": "review"}),
    "api window": Route("PUT", "/api/v1/cycles/{collecting}/window", ONLY_STAFF_API, json=WINDOW),
    "api rules": Route("PUT", "/api/v1/cycles/{collecting}/rules", ONLY_STAFF_API, json=RULES),
    # Pages
    "cycle page": Route("GET", "/cycles/{voting}", PUBLIC),
    "proposal form": Route("GET", "/cycles/{collecting}/propose",
                           (302, 200, 403, 403, 403, 200, 403, 403, 403)),
    "send proposal": Route("POST", "/cycles/{collecting}/propose",
                           (302, 302, 403, 403, 403, 302, 403, 403, 403), form=GOOD, photo=True),
    "my proposals": Route("GET", "/my/proposals", (302, 200, 200, 403, 403, 200, 200, 403, 403)),
    "private proposal": Route("GET", "/proposals/{submitted}", (302, 200, 403, 403, 403, 200, 403, 200, 403)),
    "public proposal": Route("GET", "/proposals/{on_ballot}", PUBLIC),
    "private photo": Route("GET", "/photos/{private_photo}", (302, 200, 403, 403, 403, 200, 403, 200, 403)),
    "public photo": Route("GET", "/photos/{public_photo}", PUBLIC),
    "manage community": Route("GET", "/c/ca/manage", (302, 403, 403, 403, 403, 200, 403, 200, 403)),
    "open cycle page": Route("POST", "/c/ca/cycles", (302, 403, 403, 403, 403, 302, 403, 302, 403),
                             setup="finished", form={"year": "2027"}),
    "dashboard": Route("GET", "/cycles/{voting}/manage", (302, 403, 403, 403, 403, 200, 403, 200, 403)),
    "review page": Route("POST", "/proposals/{to_review}/review", ONLY_STAFF_PAGE, setup="review",
                         form={"p{to_review}-decision": "reject", "p{to_review}-reason": "重复"}),
    "phase page": Route("POST", "/cycles/{collecting}/manage/phase", ONLY_STAFF_PAGE,
                        form={"phase": "review"}),
    "window page": Route("POST", "/cycles/{collecting}/manage/window", ONLY_STAFF_PAGE,
                         form={"voting_opens_at": "2027-05-01T09:00",
                               "voting_closes_at": "2027-05-08T18:00"}),
    "rules page": Route("POST", "/cycles/{collecting}/manage/rules", ONLY_STAFF_PAGE,
                        form=RULES | {"max_choices": "2", "min_choices": "1"}),
}


def _photo(project, uploader) -> str:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, "JPEG")
    filename = store_photo(db.session, ProcessedPhoto(out.getvalue(), 40, 30))
    db.session.add(ProjectPhoto(project_id=project.id, filename=filename, width=40, height=30,
                                uploaded_by_id=uploader.id))
    return filename


def build(setup: str, world, factory) -> dict:
    """The scenario a route needs; returns the values its path is formatted with."""
    a = world.a
    values = {"voting": a.cycle.id, "on_ballot": a.projects[0].id,
              "public_photo": _photo(a.projects[0], a.staff)}
    if setup == "finished":
        a.cycle.phase = "implementation"
    elif setup == "review":
        a.cycle.phase, a.cycle.voting_opens_at, a.cycle.voting_closes_at = "review", None, None
        to_review = factory.project(a.cycle, "待审核", 5000, status="submitted")
        values["to_review"] = to_review.id
    else:
        collecting = factory.cycle(a.community, 2027, phase="collection")
        submitted = factory.project(collecting, "居民的建议", 5000, status="submitted",
                                    submitted_by_id=a.residents[0].id)
        values |= {"collecting": collecting.id, "submitted": submitted.id,
                   "private_photo": _photo(submitted, a.residents[0])}
    db.session.commit()
    return values


def _multipart(fields: dict, photo: bool) -> dict:
    values = MultiDict(fields)
    if photo:
        out = io.BytesIO()
        Image.new("RGB", (40, 30), "green").save(out, "PNG")
        values.add("photos", FileStorage(io.BytesIO(out.getvalue()), filename="p.png"))
    boundary, body = encode_multipart(values)
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


@pytest.fixture()
def uploads(app, tmp_path):
    app.config["UPLOAD_FOLDER"] = str(tmp_path / "uploads")


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("name", list(ROUTES))
def test_route_for_role(world, factory, client, auth, uploads, name, actor):
    route = ROUTES[name]
    values = build(route.setup, world, factory)
    username = ACTORS[actor]
    headers = {}
    if route.path.startswith("/api/"):
        if username:
            headers = auth.headers(username)
    elif username:
        auth.login(username)
    kwargs = {"headers": headers}
    if route.json is not None:
        kwargs["json"] = route.json
    elif route.form is not None or route.photo:
        form = {key.format(**values): value for key, value in (route.form or {}).items()}
        kwargs |= _multipart(form, route.photo)
    with client.open(route.path.format(**values), method=route.method, **kwargs) as response:
        expected = route.expected[list(ACTORS).index(actor)]
        assert response.status_code == expected, (name, actor, response.get_data(as_text=True)[:300])
        if route.path.startswith("/api/") and expected >= 400:
            assert set(response.get_json()["error"]) == {"code", "message"}


def test_the_table_covers_every_route_of_proposals_and_cycles(app):
    """A new route of these features must be added to ROUTES (and so get its expected statuses)."""
    adapter = app.url_map.bind("localhost")
    sample = {"voting": 1, "collecting": 1, "submitted": 1, "to_review": 1, "on_ballot": 1,
              "private_photo": "a" * 32 + ".jpg", "public_photo": "b" * 32 + ".jpg"}
    covered = {(adapter.match(r.path.format(**sample), method=r.method)[0], r.method)
               for r in ROUTES.values()}
    ours = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if app.view_functions[rule.endpoint].__module__.startswith(("voting.cycles.", "voting.proposals."))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert ours - covered == set()
