"""Who may do what: every route of the app (pages and /api/v1), for every kind of caller, on the
route's own community and from another one.

The expected status of each (route, caller) is written once, in ROUTES: one row per route, one
column per caller (ACTORS). A row names the setup its route needs (SETUPS) and sends valid input, so
a refusal can only come from access control. A route the table does not list fails
`test_the_table_lists_every_route`: a new route must be classified here.

Each case runs on a scene of its own: two fresh communities (a, the route's; b, the other one) with
their staff, grid workers, residents and a cycle in voting, and a district admin and an auditor. A
write that succeeds has used its scene up, so the next caller gets a fresh one. Besides the status,
every call checks that a refused write leaves no row behind and that a GET writes nothing but the
action log.

The scenes share the module's database, which is emptied once at the end (not after every case),
and passwords are hashed with one round of PBKDF2 here, so the thousand-odd calls, each signed in
afresh, stay quick on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import functools
import io
import itertools
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

import pytest
from conftest import TEST_PASSWORD, IsolatedClient, _empty_tables
from factories import Factory, Place, valid_id_number
from PIL import Image
from flask import current_app
from sqlalchemy import event, func, select

from voting.app import create_app
from voting.accounts.models import User
from voting.ballots.models import PaperBatch, PaperEntry
from voting.ballots.casting import CastingCycle, Voter
from voting.ballots.services import cast_ballot
from voting.config import secret_keys
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.proposals.models import ProjectPhoto
from voting.proposals.photos import ProcessedPhoto, store_photo
from voting.residents.idcheck import hash_id_last6
from voting.residents.issuing import issue_voting_code
from voting.residents.models import Resident
from voting.residents.services import hash_id_number, household_key
from voting.results.models import Objection
from voting.results.services import ensure_result
from voting.tracking.models import Milestone, MilestonePhoto, SpendingEntry
from voting.tracking.progress import local_today

# The callers. Every route acts on community a; the "…_other" callers belong to community b.
ACTORS = ("anonymous", "resident", "resident_other", "grid", "grid_other", "staff", "staff_other", "admin",
          "auditor")
SIGNED_IN = ACTORS[1:]


def page(ok: int, *who: str) -> tuple[int, ...]:
    """A page only `who` may use: `ok` for them, the sign-in page (302) for the anonymous, 403 else."""
    return tuple(ok if actor in who else 302 if actor == "anonymous" else 403 for actor in ACTORS)


def api(ok: int, *who: str) -> tuple[int, ...]:
    """An API route only `who` may use: `ok` for them, 401 for the anonymous, 403 for the rest."""
    return tuple(ok if actor in who else 401 if actor == "anonymous" else 403 for actor in ACTORS)


def everyone(ok: int) -> tuple[int, ...]:
    return (ok,) * len(ACTORS)


def but(row: tuple[int, ...], **exceptions: int) -> tuple[int, ...]:
    """`row`, with other statuses for some callers."""
    return tuple(exceptions.get(actor, status) for actor, status in zip(ACTORS, row))


PUBLIC = everyone(200)
AUDIT_PAGE = page(200, "admin", "auditor")
OVERSIGHT_PAGE = page(200, "staff", "admin")  # the community's staff and the district admin


class File(NamedTuple):
    data: bytes
    name: str


def png() -> File:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, "PNG")
    return File(out.getvalue(), "photo.png")


PHOTO = png()
_registry_serials = itertools.count(900)


def registry_file(values: dict) -> File:
    """A registry with one new resident (new every time: an ID number is registered only once)."""
    rows = ["name,id_number,phone,grid,address",
            f"新居民,{valid_id_number(next(_registry_serials))},13800000000,{values['grid_code']},9栋"]
    return File("\n".join(rows).encode(), "registry.csv")


Body = dict | Callable[[dict], dict]


@dataclass(frozen=True)
class Route:
    method: str
    path: str                 # formatted with the setup's values
    expect: tuple[int, ...]   # one status per caller, in the order of ACTORS
    setup: str = "voting"     # a name in SETUPS
    json: Body | None = None  # a dict, or a function of the setup's values
    form: Body | None = None  # the same; a File value makes it multipart

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


TODAY = local_today().isoformat()
OPENS, CLOSES = (utcnow().replace(microsecond=0) + timedelta(days=days) for days in (30, 37))
PROPOSAL = {"title": "楼道照明改造", "description": "楼道灯坏了", "category": "lighting", "estimated_cost": "8000"}
RULES = {"method": "approval", "min_choices": 1, "max_choices": 2, "outcome_rule": "greedy"}
WINDOW = {"voting_opens_at": OPENS.isoformat() + "Z", "voting_closes_at": CLOSES.isoformat() + "Z"}
WINDOW_FORM = {"voting_opens_at": OPENS.strftime("%Y-%m-%dT%H:%M"),  # Beijing time: still weeks ahead
               "voting_closes_at": CLOSES.strftime("%Y-%m-%dT%H:%M")}
PASSWORD_CHANGE = {"current": TEST_PASSWORD, "new": "Changed-Pass-2", "confirm": "Changed-Pass-2"}


def choice(values: dict) -> dict:
    """A ballot form choosing one project on the ballot."""
    return {"projects": [str(values["on_ballot"])]}


def credentials(username: str) -> dict:
    return {"username": username, "password": TEST_PASSWORD}


# One row per route. page(ok, *who) and api(ok, *who): `ok` for those callers, the sign-in page
# (pages: 302) or 401 (API) for the anonymous, 403 for everyone else; everyone(status), PUBLIC (200 for
# all); but(row, caller=status) where a caller differs. The values in {braces} come from the setup.
ROUTES = [
    # --- accounts --------------------------------------------------------------------------------
    Route("GET", "/login", PUBLIC),
    Route("POST", "/login", everyone(302), form=lambda v: credentials(v["resident"])),
    Route("GET", "/logout", but(PUBLIC, anonymous=302)),  # nobody to sign out: back to the home page
    Route("POST", "/logout", everyone(302)),
    Route("GET", "/account/password", page(200, *SIGNED_IN)),
    Route("GET", "/me", page(200, *SIGNED_IN)),  # each signed-in user's own page
    Route("POST", "/account/password", page(302, *SIGNED_IN), form=PASSWORD_CHANGE),
    Route("POST", "/api/v1/auth/token", PUBLIC, json=lambda v: credentials(v["resident"])),
    Route("GET", "/api/v1/me", api(200, *SIGNED_IN)),
    Route("GET", "/api/v1/openapi.json", PUBLIC),
    # Activation ignores whoever is signed in: the API knows no session and is public; the page asks a
    # signed-in user to sign out first (409) and never activates on their session.
    Route("POST", "/api/v1/auth/activate", everyone(201), setup="activation", json=lambda v: v["activation"]),
    Route("GET", "/activate", PUBLIC),
    Route("POST", "/activate", but(everyone(409), anonymous=302), setup="activation",
          form=lambda v: v["activation"] | {"confirm": v["activation"]["password"]}),
    # --- geography -------------------------------------------------------------------------------
    Route("GET", "/", PUBLIC),
    Route("GET", "/c/{a}", PUBLIC),
    Route("GET", "/healthz", PUBLIC),
    Route("GET", "/lang/en", everyone(302)),
    Route("GET", "/text/large", everyone(302)),
    Route("GET", "/api/v1/communities", PUBLIC),
    Route("GET", "/api/v1/communities/{a}/cycles", PUBLIC),
    # --- residents: the registry and voting codes ------------------------------------------------
    Route("GET", "/c/{a}/residents/import", OVERSIGHT_PAGE),
    Route("POST", "/c/{a}/residents/import", page(200, "staff", "admin"),  # the preview: writes nothing
          form=lambda v: {"registry": registry_file(v)}),
    # (a forged preview: 400 for who may import; the real confirm is in test_registry_pages)
    Route("POST", "/c/{a}/residents/import/confirm", page(400, "staff", "admin"),
          form={"file_data": "eA==", "filename": "r.csv", "token": "forged"}),
    Route("GET", "/c/{a}/residents", page(200, "staff")),
    Route("POST", "/c/{a}/residents/{voter}/status", page(302, "staff"), form={"status": "moved"}),
    Route("GET", "/c/{a}/voting-codes", page(200, "staff")),
    Route("POST", "/c/{a}/voting-codes", page(200, "staff"), form=lambda v: {"grid": v["grid_code"]}),
    # --- cycles ----------------------------------------------------------------------------------
    Route("GET", "/cycles/{voting}", PUBLIC),
    Route("GET", "/c/{a}/manage", OVERSIGHT_PAGE),
    Route("POST", "/c/{a}/cycles", page(302, "staff", "admin"), setup="finished",
          form=lambda v: {"year": str(v["next_year"])}),
    Route("GET", "/cycles/{voting}/manage", OVERSIGHT_PAGE),
    Route("POST", "/cycles/{collecting}/manage/phase", page(302, "staff"), setup="collecting",
          form={"phase": "review"}),
    Route("GET", "/cycles/{voting}/manage/close", page(200, "staff")),  # the early close's preview
    Route("GET", "/api/v1/cycles/{voting}/close-preview", api(200, "staff")),
    Route("POST", "/cycles/{collecting}/manage/window", page(302, "staff"), setup="collecting",
          form=WINDOW_FORM),
    Route("POST", "/cycles/{collecting}/manage/rules", page(302, "staff"), setup="collecting",
          form={key: str(value) for key, value in RULES.items()}),
    Route("POST", "/proposals/{to_review}/review", page(302, "staff"), setup="review",
          form=lambda v: {f"p{v['to_review']}-decision": "reject", f"p{v['to_review']}-reason": "重复"}),
    Route("GET", "/api/v1/cycles/{voting}", PUBLIC),
    Route("POST", "/api/v1/communities/{a}/cycles", api(201, "staff", "admin"), setup="finished",
          json=lambda v: {"year": v["next_year"]}),
    Route("POST", "/api/v1/cycles/{collecting}/phase", api(200, "staff"), setup="collecting",
          json={"phase": "review"}),
    Route("PUT", "/api/v1/cycles/{collecting}/window", api(200, "staff"), setup="collecting", json=WINDOW),
    Route("PUT", "/api/v1/cycles/{collecting}/rules", api(200, "staff"), setup="collecting", json=RULES),
    # --- proposals -------------------------------------------------------------------------------
    Route("GET", "/cycles/{collecting}/propose", page(200, "resident", "staff"), setup="collecting"),
    Route("POST", "/cycles/{collecting}/propose", page(302, "resident", "staff"), setup="collecting",
          form=PROPOSAL | {"photos": PHOTO}),
    Route("GET", "/my/proposals", page(200, "resident", "resident_other", "staff", "staff_other")),
    # Awaiting review: its author, the community's staff and the district admin; decided: public.
    Route("GET", "/proposals/{submitted}", page(200, "resident", "staff", "admin"), setup="collecting"),
    Route("GET", "/proposals/{on_ballot}", PUBLIC),
    Route("GET", "/photos/{private_photo}", page(200, "resident", "staff", "admin"), setup="collecting"),
    Route("GET", "/photos/{public_photo}", PUBLIC, setup="public_photo"),
    Route("POST", "/api/v1/cycles/{collecting}/proposals", api(201, "resident", "staff"), setup="collecting",
          json=PROPOSAL),
    Route("GET", "/api/v1/cycles/{voting}/proposals", PUBLIC),
    Route("GET", "/api/v1/me/proposals", api(200, "resident", "resident_other", "staff", "staff_other")),
    Route("POST", "/api/v1/proposals/{submitted}/photos", api(201, "resident"), setup="collecting",
          form={"photos": PHOTO}),  # the author only: not even the community's staff
    Route("POST", "/api/v1/proposals/{to_review}/review", api(200, "staff"), setup="review",
          json={"decision": "reject", "reason": "重复"}),
    # --- ballots: online ---------------------------------------------------------------------------
    Route("GET", "/cycles/{voting}/vote", page(200, "resident")),
    Route("POST", "/cycles/{voting}/vote", page(200, "resident"), form=choice),
    Route("POST", "/cycles/{voting}/vote/confirm", page(200, "resident"), form=choice),
    Route("POST", "/cycles/{voting}/ballot", page(302, "resident"), form=choice),
    # Their own ballot here: resident_other has none (and sees that).
    Route("GET", "/cycles/{voting}/my-ballot", page(200, "resident", "resident_other"), setup="voted"),
    Route("PUT", "/api/v1/cycles/{voting}/ballot", api(200, "resident"),
          json=lambda v: {"projects": [v["on_ballot"]]}),
    Route("GET", "/api/v1/cycles/{voting}/ballot", but(api(200, "resident"), resident_other=404),
          setup="voted"),
    Route("GET", "/receipts", PUBLIC),
    Route("GET", "/receipts/{receipt}", PUBLIC, setup="voted"),
    Route("GET", "/api/v1/receipts/{receipt}", PUBLIC, setup="voted"),
    # --- ballots: assisted at the door (the grid's own worker) ------------------------------------
    Route("GET", "/cycles/{voting}/assist", page(200, "grid", "grid_other")),  # grid_other: an empty list
    Route("GET", "/cycles/{voting}/assist/{voter}", page(200, "grid")),
    Route("POST", "/cycles/{voting}/assist/{voter}", page(200, "grid"), form=choice),
    Route("POST", "/cycles/{voting}/assist/{voter}/confirm", page(200, "grid"), form=choice),
    Route("POST", "/cycles/{voting}/assist/{voter}/ballot", page(200, "grid"),
          form=lambda v: choice(v) | {"credential": TEST_PASSWORD}),
    Route("GET", "/cycles/{voting}/assisted", page(200, "staff", "admin", "auditor")),
    Route("GET", "/api/v1/cycles/{voting}/assisted", api(200, "staff", "admin", "auditor")),
    # --- ballots: paper (the grid's worker and the community's staff) ------------------------------
    # Those of the other community see no grid and no batch here, and cannot choose a grid of a (400).
    Route("GET", "/cycles/{voting}/paper", page(200, "grid", "grid_other", "staff", "staff_other")),
    Route("POST", "/cycles/{voting}/paper", but(page(302, "grid", "staff"), grid_other=400, staff_other=400),
          form=lambda v: {"grid": str(v["grid_id"]), "label": "一号票箱"}),
    Route("GET", "/paper/{batch}", page(200, "grid", "staff"), setup="paper"),
    Route("POST", "/paper/{batch}/entries", page(302, "grid", "staff"), setup="paper",
          form=lambda v: choice(v) | {"resident": str(v["voter"])}),
    Route("POST", "/paper/{batch}/entries/{entry}/delete", page(302, "grid", "staff"),
          setup="own_paper_entry"),
    Route("POST", "/paper/{batch}/finish", page(302, "grid", "staff"), setup="paper"),
    Route("POST", "/paper/{batch}/reconcile", page(302, "grid", "staff"), setup="typed_twice"),
    Route("POST", "/paper/{batch}/entries/{entry}/decide", page(302, "staff"), setup="already_voted_paper",
          form={"decision": "discard", "reason": "录错了居民"}),
    # --- mobilise --------------------------------------------------------------------------------
    Route("GET", "/cycles/{voting}/turnout", OVERSIGHT_PAGE),
    Route("GET", "/cycles/{voting}/doors", page(200, "grid")),
    # --- results ---------------------------------------------------------------------------------
    Route("GET", "/cycles/{counted}/results", PUBLIC, setup="counted"),
    Route("GET", "/cycles/{counted}/results/notice", PUBLIC, setup="counted"),
    Route("GET", "/api/v1/cycles/{counted}/results", PUBLIC, setup="counted"),
    Route("GET", "/api/v1/cycles/{counted}/objections", PUBLIC, setup="objected"),
    Route("POST", "/api/v1/cycles/{counted}/objections", api(201, "resident"), setup="counted",
          json={"text": "请复核计票"}),
    Route("POST", "/api/v1/objections/{objection}/answer", api(200, "staff"), setup="objected",
          json={"text": "已复核"}),
    Route("POST", "/cycles/{counted}/objections", page(302, "resident"), setup="counted", form={"text": "请复核计票"}),
    Route("POST", "/objections/{objection}/answer", page(302, "staff"), setup="objected",
          form=lambda v: {f"o{v['objection']}-text": "已复核"}),
    # --- audit -----------------------------------------------------------------------------------
    Route("GET", "/audit", AUDIT_PAGE),
    Route("GET", "/audit/log", AUDIT_PAGE),
    Route("GET", "/audit/log.csv", AUDIT_PAGE),
    Route("GET", "/audit/cycles/{voting}", AUDIT_PAGE, setup="voted"),
    Route("GET", "/audit/cycles/{voting}/record.csv", AUDIT_PAGE, setup="voted"),
    Route("GET", "/audit/cycles/{voting}/roll.csv", AUDIT_PAGE, setup="voted"),
    Route("GET", "/audit/cycles/{voting}/workers.csv", AUDIT_PAGE, setup="voted"),
    Route("GET", "/audit/verify_record.py", PUBLIC),
    Route("GET", "/cycles/{voting}/receipts", PUBLIC, setup="voted"),
    Route("GET", "/api/v1/cycles/{voting}/record", api(200, "admin", "auditor"), setup="voted"),
    Route("GET", "/api/v1/cycles/{voting}/receipts", PUBLIC, setup="voted"),
    # --- tracking --------------------------------------------------------------------------------
    Route("GET", "/archive", PUBLIC, setup="building"),
    Route("GET", "/archive.csv", PUBLIC, setup="building"),
    Route("GET", "/archive.xlsx", PUBLIC, setup="building"),
    Route("GET", "/dashboard", PUBLIC, setup="building"),
    Route("GET", "/tracking/projects/{done}", PUBLIC, setup="building"),
    Route("GET", "/tracking/ledger/{a}", PUBLIC, setup="building"),
    Route("GET", "/tracking/ledger/{a}/{built}", PUBLIC, setup="building"),
    Route("GET", "/tracking/photos/{milestone_photo}", PUBLIC, setup="building"),
    Route("GET", "/tracking/projects/{funded}/manage", page(200, "staff"), setup="building"),
    Route("POST", "/tracking/projects/{funded}/status", page(302, "staff"), setup="building",
          form={"to_status": "in_progress"}),
    Route("POST", "/tracking/projects/{funded}/milestones", page(302, "staff"), setup="building",
          form={"happened_on": TODAY, "text": "进场施工", "photos": PHOTO}),
    Route("POST", "/tracking/projects/{funded}/spending", page(302, "staff"), setup="building",
          form={"spent_on": TODAY, "amount": "1000", "payee": "某公司"}),
    Route("POST", "/tracking/projects/{done}/spending/{payment}/reversal", page(302, "staff"), setup="building",
          form={"reason": "录错"}),
    Route("POST", "/tracking/projects/{done}/rating", page(302, "resident"), setup="building",
          form={"score": "5", "comment": "好"}),
    Route("POST", "/tracking/ledger/{a}/{built}/approvals", page(302, "admin"), setup="building",
          form={"amount": "1000", "reason": "材料涨价"}),
    Route("GET", "/api/v1/projects", PUBLIC, setup="building"),
    Route("GET", "/api/v1/projects/{done}", PUBLIC, setup="building"),
    Route("GET", "/api/v1/ledger/{a}/{built}", PUBLIC, setup="building"),
    Route("POST", "/api/v1/projects/{funded}/status", api(200, "staff"), setup="building",
          json={"status": "in_progress"}),
    Route("POST", "/api/v1/projects/{funded}/milestones", api(201, "staff"), setup="building",
          form={"date": TODAY, "text": "进场施工", "photos": PHOTO}),
    Route("POST", "/api/v1/projects/{funded}/spending", api(201, "staff"), setup="building",
          json={"date": TODAY, "amount": "1000", "payee": "某公司"}),
    Route("POST", "/api/v1/projects/{done}/spending/{payment}/reversal", api(201, "staff"), setup="building",
          json={"reason": "录错"}),
    Route("POST", "/api/v1/projects/{done}/rating", api(201, "resident"), setup="building",
          json={"score": 5, "comment": "好"}),
    Route("POST", "/api/v1/ledger/{a}/{built}/approvals", api(201, "admin"), setup="building",
          json={"amount": "1000", "reason": "材料涨价"}),
    # --- closing the year ------------------------------------------------------------------------
    Route("GET", "/tracking/cycles/{built_cycle}/closing", OVERSIGHT_PAGE, setup="building"),
    Route("POST", "/tracking/projects/{funded}/carry-over", page(302, "staff"), setup="building", form={}),
    Route("POST", "/tracking/projects/{funded}/end", page(302, "staff"), setup="building",
          form=lambda v: {f"p{v['funded']}-reason": "地块被征收"}),
    Route("GET", "/api/v1/cycles/{built_cycle}/closing", PUBLIC, setup="building"),
    Route("POST", "/api/v1/projects/{funded}/carry-over", api(201, "staff"), setup="building", json={}),
    Route("POST", "/api/v1/projects/{funded}/end", api(201, "staff"), setup="building",
          json={"reason": "地块被征收"}),
]


# --- Scenes ---------------------------------------------------------------------------------------

@dataclass
class Scene:
    """Two fresh communities and everyone who acts on them; the setups made in it so far."""

    factory: Factory
    a: Place
    b: Place
    admin: User
    auditor: User
    made: dict = field(default_factory=dict)

    def user(self, actor: str):
        a, b = self.a, self.b
        return {"anonymous": None, "resident": a.residents[0], "resident_other": b.residents[0],
                "grid": a.worker, "grid_other": b.worker, "staff": a.staff, "staff_other": b.staff,
                "admin": self.admin, "auditor": self.auditor}[actor]

    def values(self, setup: str, user) -> dict:
        """The path's and the body's values: made once per scene, or for each caller when the setup
        depends on who calls."""
        if setup in FOR_EACH_CALLER:
            return SETUPS[setup](self, user)
        if setup not in self.made:
            self.made[setup] = SETUPS[setup](self, user)
        return self.made[setup]


class District:
    """The module's app and database; a new scene whenever one is used up."""

    def __init__(self, app):
        self.app = app
        self.factory = Factory(db.session, TEST_PASSWORD)
        self.sub = self.factory.sub_district("matrix")
        self.count = itertools.count(1)

    def scene(self) -> Scene:
        n, f = next(self.count), self.factory
        return Scene(factory=f, a=f.place(self.sub, f"m{n}a"), b=f.place(self.sub, f"m{n}b"),
                     admin=f.user(f"admin-m{n}", "admin"), auditor=f.user(f"auditor-m{n}", "auditor"))


@pytest.fixture(scope="module")
def district(database_url, tmp_path_factory):
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False, "UPLOAD_FOLDER": str(tmp_path_factory.mktemp("uploads")),
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield District(app)
        db.session.remove()
        _empty_tables()
        db.engine.dispose()


# --- Setups: what a route needs, made in the scene; each returns the values its row uses -----------

def base(scene: Scene, _user) -> dict:
    """Community a's cycle in voting with four projects on the ballot."""
    a = scene.a
    return {"a": a.community.code, "grid_code": a.grid.code, "grid_id": a.grid.id, "voting": a.cycle.id,
            "on_ballot": a.projects[0].id, "resident": a.residents[0].username,
            "voter": a.residents[1].resident_id}


def _stored_jpeg() -> str:
    """A small JPEG stored as an uploaded photo is; its file name."""
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, "JPEG")
    return store_photo(db.session, ProcessedPhoto(out.getvalue(), 40, 30))


def _photo(project, uploader) -> str:
    filename = _stored_jpeg()
    db.session.add(ProjectPhoto(project_id=project.id, filename=filename, width=40, height=30,
                                uploaded_by_id=uploader.id))
    return filename


def public_photo(scene: Scene, user) -> dict:
    """A photo of a project on the ballot."""
    return base(scene, user) | {"public_photo": _photo(scene.a.projects[0], scene.a.staff)}


def collecting(scene: Scene, user) -> dict:
    """Next year's cycle collecting proposals, with a resident's proposal (and its photo) awaiting review."""
    a, factory = scene.a, scene.factory
    cycle = factory.cycle(a.community, a.cycle.year + 1, phase="collection")
    submitted = factory.project(cycle, "居民的建议", 5000, status="submitted", submitted_by_id=a.residents[0].id)
    return base(scene, user) | {"collecting": cycle.id, "submitted": submitted.id,
                                "private_photo": _photo(submitted, a.residents[0])}


def review(scene: Scene, user) -> dict:
    """The cycle under review, with a proposal to decide on."""
    cycle = scene.a.cycle
    cycle.phase, cycle.voting_opens_at, cycle.voting_closes_at = "review", None, None
    to_review = scene.factory.project(cycle, "待审核", 5000, status="submitted")
    return base(scene, user) | {"to_review": to_review.id}


def finished(scene: Scene, user) -> dict:
    """The cycle built (in implementation): the next year's may be opened."""
    scene.a.cycle.phase = "implementation"
    return base(scene, user) | {"next_year": scene.a.cycle.year + 1}


def voted(scene: Scene, user) -> dict:
    """The resident has cast a ballot."""
    a = scene.a
    outcome = cast_ballot(db.session, CastingCycle.read(db.session, a.cycle), Voter.of_account(a.residents[0]),
                          [(a.projects[0].id, 1)], "online", None, utcnow())
    return base(scene, user) | {"receipt": outcome.answer["receipt"]}


def counted(scene: Scene, user) -> dict:
    """A ballot cast, voting closed and the result counted."""
    values = voted(scene, user)
    cycle = scene.a.cycle
    cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    ensure_result(db.session, cycle, utcnow())
    return values | {"counted": cycle.id}


def objected(scene: Scene, user) -> dict:
    """The counted result with a resident's objection awaiting its answer."""
    values = counted(scene, user)
    objection = scene.factory.add(Objection(cycle_id=values["counted"], filed_by_id=scene.a.residents[0].id,
                                            text="请复核计票", created_at=utcnow()))
    return values | {"objection": objection.id}


def _batch(scene: Scene, typist, *, finished: bool = False) -> PaperBatch:
    """A paper batch of grid a, round 1 typed by `typist`: one ballot (round 2 too when finished)."""
    a = scene.a
    batch = scene.factory.add(PaperBatch(cycle_id=a.cycle.id, grid_id=a.grid.id, label="一号票箱",
                                         created_by_id=typist.id, round1_by_id=typist.id))
    rounds = [(1, typist)] + ([(2, a.staff)] if finished else [])
    for number, by in rounds:
        batch.entries.append(PaperEntry(round=number, resident_id=a.residents[2].resident_id,
                                        choices=f"{a.projects[0].id}:1", entered_by_id=by.id))
    if finished:
        batch.round2_by_id, batch.round1_done_at = a.staff.id, utcnow()
        batch.round2_done_at = batch.round1_done_at
    db.session.flush()
    return batch


def paper(scene: Scene, user) -> dict:
    """A paper batch that the grid worker opened and typed one ballot into."""
    return base(scene, user) | {"batch": _batch(scene, scene.a.worker).id}


def own_paper_entry(scene: Scene, user) -> dict:
    """A paper batch whose round 1, with one entry, the caller typed (the grid worker, for those
    who cannot type paper ballots at all)."""
    typist = user if user is not None and user.role in ("grid_worker", "staff") else scene.a.worker
    batch = _batch(scene, typist)
    return base(scene, user) | {"batch": batch.id, "entry": batch.entries[0].id}


def typed_twice(scene: Scene, user) -> dict:
    """A paper batch typed in both rounds (grid worker and staff), ready to reconcile."""
    return base(scene, user) | {"batch": _batch(scene, scene.a.worker, finished=True).id}


def already_voted_paper(scene: Scene, user) -> dict:
    """A reconciled paper batch whose one ballot waits for the staff: its resident had voted already."""
    batch = _batch(scene, scene.a.worker, finished=True)
    for entry in batch.entries:
        entry.status, entry.problem = "disputed", "already_voted"
    batch.reconciled_at = utcnow()
    db.session.flush()
    return base(scene, user) | {"batch": batch.id, "entry": batch.entries[0].id}


_activations = itertools.count(1)


def activation(scene: Scene, user) -> dict:
    """A resident of community a registered with the ID digits, holding a new voting code, no account yet."""
    n = next(_activations)
    number = valid_id_number(n)
    key = secret_keys(current_app.config)[0]
    resident = scene.factory.add(Resident(community_id=scene.a.community.id, grid_id=scene.a.grid.id,
                                          name=f"激活{n}", address=f"{n}栋", id_hash=hash_id_number(key, f"act{n}"),
                                          id_last6_hash=hash_id_last6(key, number),
                                          household=household_key(key, scene.a.community.id, f"{n}栋")))
    code = issue_voting_code(db.session, resident)
    return base(scene, user) | {"activation": {"voting_code": code, "id_last6": number[-6:],
                                               "username": f"activated-{n}", "password": "Activate-Pass-1"}}


def building(scene: Scene, user) -> dict:
    """Last year's cycle being built: a funded project, a completed one, a milestone with a photo."""
    factory, a = scene.factory, scene.a
    published = utcnow() - timedelta(days=60)
    cycle = factory.add(Cycle(community_id=a.community.id, year=a.cycle.year - 1, phase="implementation",
                              voting_opens_at=published - timedelta(days=20),
                              voting_closes_at=published - timedelta(days=5), results_published_at=published,
                              implementation_started_at=published + timedelta(days=1)))
    funded = factory.project(cycle, "路灯安装", 80_000, status="funded", votes=120)
    done = factory.project(cycle, "健身器材", 50_000, status="completed", votes=90, completed_at=utcnow())
    milestone = factory.add(Milestone(project_id=done.id, happened_on=local_today(), text="完工"))
    name = _stored_jpeg()
    factory.add(MilestonePhoto(milestone_id=milestone.id, filename=name, width=40, height=30))
    payment = factory.add(SpendingEntry(project_id=done.id, spent_on=local_today(), amount_fen=1000_00, payee="某公司"))
    return base(scene, user) | {"built": cycle.year, "built_cycle": cycle.id, "funded": funded.id, "done": done.id,
                                "milestone_photo": name, "payment": payment.id}


SETUPS = {"voting": base, "activation": activation, "public_photo": public_photo, "collecting": collecting, "review": review,
          "finished": finished, "voted": voted, "counted": counted, "objected": objected, "paper": paper,
          "own_paper_entry": own_paper_entry, "typed_twice": typed_twice, "already_voted_paper": already_voted_paper,
          "building": building}
FOR_EACH_CALLER = {"own_paper_entry"}

# --- Calling a route ------------------------------------------------------------------------------

LOGGED = {"action_log", "action_log_head"}  # reading ballot records, turnout and door lists is logged
_WRITE = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)


@functools.cache
def _counting():
    return select(*(select(func.count()).select_from(t).scalar_subquery().label(t.name)
                    for t in db.metadata.sorted_tables))


def row_counts() -> dict[str, int]:
    """How many rows every table holds (one query)."""
    return dict(db.session.execute(_counting()).one()._mapping)


@contextmanager
def tables_written():
    """The tables that the statements sent meanwhile insert into, update or delete from."""
    written = set()

    def note(_conn, _cursor, statement, *_args):
        if match := _WRITE.match(statement):
            written.add(match.group(1))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield written
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


def signed_in(app, user, api: bool) -> tuple:
    """A client and headers for `user` (None: anonymous): signed in with the form for pages, with a
    token for the API."""
    client, headers = app.test_client(), {}
    if user is not None and api:
        token = client.post("/api/v1/auth/token", json=credentials(user.username)).get_json()["token"]
        headers["Authorization"] = f"Bearer {token}"
    elif user is not None:
        assert client.post("/login", data=credentials(user.username)).status_code == 302
    return client, headers


def send(client, headers: dict, route: Route, values: dict):
    """The route's request with its valid input."""
    kwargs = {}
    if route.json is not None:
        kwargs["json"] = route.json(values) if callable(route.json) else route.json
    if route.form is not None:
        form = route.form(values) if callable(route.form) else route.form
        kwargs["data"] = {key: (io.BytesIO(value.data), value.name) if isinstance(value, File) else value
                          for key, value in form.items()}
    response = client.open(route.path.format(**values), method=route.method, headers=headers, **kwargs)
    response.close()
    return response


def refused(response) -> bool:
    return response.status_code >= 400 or "/login" in response.headers.get("Location", "")


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_for_every_caller(district, route):
    """Each caller in turn on one route: the row's statuses; a GET writes nothing but the action
    log, and a refused write leaves no row behind."""
    scene = district.scene()
    statuses, problems = {}, []
    for actor in ACTORS:
        user = scene.user(actor)
        values = scene.values(route.setup, user)
        client, headers = signed_in(district.app, user, api=route.path.startswith("/api/"))
        db.session.commit()
        before = row_counts()
        with tables_written() as written:
            response = send(client, headers, route, values)
        statuses[actor] = status = response.status_code
        if route.path.startswith("/api/") and status >= 400:
            assert set(response.get_json()["error"]) == {"code", "message"}, (actor, response.get_json())
        if status != route.expect[ACTORS.index(actor)]:
            problems.append(f"{actor}: {status} {response.get_data(as_text=True)[:300]!r}")
        if route.method == "GET":
            if written - LOGGED:
                problems.append(f"{actor}: a GET wrote to {sorted(written - LOGGED)}")
        elif refused(response):
            after = row_counts()
            changed = {table: (n, after[table]) for table, n in before.items() if after[table] != n}
            if changed:
                problems.append(f"{actor}: refused with {status}, but rows changed: {changed}")
        else:  # the write went through and may have used up what the setup made
            scene = district.scene()
    assert statuses == dict(zip(ACTORS, route.expect)), "\n".join(problems)
    assert not problems, "\n".join(problems)


def test_the_table_lists_every_route(district):
    """Every route of the app (static files aside) is in ROUTES once: a new route must be classified."""
    class AnyValue(dict):
        def __missing__(self, key):
            return "1"

    adapter = district.app.url_map.bind("localhost")
    listed = [(adapter.match(route.path.format_map(AnyValue()), method=route.method)[0], route.method)
              for route in ROUTES]
    routes = {(rule.endpoint, method) for rule in district.app.url_map.iter_rules()
              if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert sorted(routes - set(listed)) == [], "routes missing from ROUTES"
    assert len({str(route) for route in ROUTES}) == len(ROUTES), "a row written twice"
    assert all(len(route.expect) == len(ACTORS) for route in ROUTES)
