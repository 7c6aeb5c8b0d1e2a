"""Hostile text in every field that residents and staff can write is shown as text, everywhere.

A year is run through the real forms and API (and the command line, for account names) with a
hostile value in every stored text field: proposal titles, descriptions and locations, review
reasons (on the ballot, rejected, merged), the reason for closing a vote early, the resident
registry (CSV and XLSX: names, addresses, phones, the file's name), paper batch labels, milestones,
payments (payee and note), acceptance panels and remarks, ratings, fund approvals, usernames of
staff and grid workers, and, where the app has no form for them, the names of the sub-district,
communities and grids (tests/factories.py). Each value carries a marker naming its field and as
much of this as the column holds::

    <script>alert(1)</script>  "><img src=x onerror=alert(1)>  tpl{{7*7}}  </title></textarea>  '><svg onload=alert(1)>

and some begin with `javascript:alert(1)` or with = + - @ (a spreadsheet formula).

Then every GET route of `app.url_map` is opened, with its ids filled from the rows made, as each
role (anonymous, a resident of each community, staff, grid worker, district admin, auditor) in
Chinese and in English (the header's language switch). No HTML page may hold a script element of
its own or with a source outside /static/, an `on…` attribute, a `javascript:` link, a `<title>` or
`<textarea>` closed by data, or `tpl49` (a template that ran); every page carries the
Content-Security-Policy without inline script. Every field must show up as text on some page (else
the crawl proves nothing). The JSON API answers application/json with the values as data. Forms sent
back with errors and searches show what was typed as text too.

The downloads (ballot records, voter roll, action log, archive: CSV and XLSX) hold no cell that a
spreadsheet would run: one beginning with = + - @, tab or carriage return gets a leading apostrophe
(`voting/spreadsheet.py`), which the ballot record's verifier removes, so the records still verify.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import html
import re
import zipfile
from dataclasses import dataclass
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from flask import url_for
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from conftest import TEST_PASSWORD, IsolatedClient
from factories import valid_id_number
from voting.audit import verify_record
from voting.audit.chainlog import first_bad_row
from voting.ballots.models import Ballot
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.proposals.models import Project
from voting.residents.models import Resident
from voting.results.models import Objection
from voting.spreadsheet import FORMULA_STARTS, plain

# --- The payloads --------------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
PIECES = (SCRIPT, '"><img src=x onerror=alert(1)>', "tpl{{7*7}}", "</title></textarea>", "'><svg onload=alert(1)>")
TEMPLATE_RAN = "tpl49"
JS_URL = "javascript:alert(1)//"
UNESCAPED = ("<script>alert", "<img src=x", "<svg onload")


def hostile(tag: str, limit: int, lead: str = "") -> str:
    """`lead`, the marker [tag], then as many of the pieces as fit in `limit` characters."""
    value = f"{lead}[{tag}]"
    for piece in PIECES:
        if len(value) + len(piece) <= limit:
            value += piece
    return value


# Every stored text field: tag -> its value. The column's length limits what fits.
V = {
    # geography (no form edits them: set through the factory)
    "sub_district": hostile("sub_district", 64, "@"),
    "community_a": hostile("community_a", 64, "="),
    "community_b": hostile("community_b", 64, "+"),
    "grid_a": hostile("grid_a", 64, "-"),
    "grid_b": hostile("grid_b", 64),
    # accounts (`voting users add`): a username has no spaces, so the pieces' spaces become "/"
    # (`<img/src=x/onerror=…>` is as live in HTML as with spaces)
    "staff": re.sub(r"\s", "/", hostile("staff", 80, "@")),
    "worker": re.sub(r"\s", "/", hostile("worker", 80, "=")),
    # the registry (CSV and XLSX uploads)
    "csv_name": hostile("csv_name", 64, "="),
    "csv_address": hostile("csv_address", 200, "+"),
    "csv_phone": hostile("csv_phone", 32, "-"),
    "csv_name2": hostile("csv_name2", 64, "-"),
    "csv_address2": hostile("csv_address2", 200, JS_URL),
    "xlsx_name": hostile("xlsx_name", 64, "@"),
    "xlsx_address": hostile("xlsx_address", 200, "="),
    # a file name (browsers send " as %22): logged with the import
    "csv_file": "=[csv_file]" + SCRIPT + "<img src=x onerror=alert(1)>tpl{{7*7}}.csv",
    # proposals (form and API) and their review
    "title_form": hostile("title_form", 120, "="),
    "description_form": hostile("description_form", 4000),
    "location_form": hostile("location_form", 200, JS_URL),
    "title_api": hostile("title_api", 120, "+"),
    "description_api": hostile("description_api", 4000, "-"),
    "location_api": hostile("location_api", 200, "@"),
    "title_rejected": hostile("title_rejected", 120, "-"),
    "title_merged": hostile("title_merged", 120, "@"),
    "reason_ballot": hostile("reason_ballot", 500, "-"),
    "reason_ballot_api": hostile("reason_ballot_api", 500, JS_URL),
    "reason_rejected": hostile("reason_rejected", 500, "="),
    "reason_merged": hostile("reason_merged", 500, "+"),
    "reason_review": hostile("reason_review", 500, "@"),  # moving the cycle to review (the action log)
    "reason_closed": hostile("reason_closed", 500, "="),  # closing the vote early
    "title_open": hostile("title_open", 120, "="),        # on this year's open ballot (API)
    "title_open_form": hostile("title_open_form", 120, "@"),
    "title_b": hostile("title_b", 120, "+"),              # awaiting review in the other community
    "paper_label": hostile("paper_label", 80, "-"),
    # tracking
    "milestone": hostile("milestone", 1000, "="),
    "payee": hostile("payee", 120, JS_URL),
    "note": hostile("note", 500, "@"),
    "panel": hostile("panel", 300, "="),
    "remarks": hostile("remarks", 1000, "+"),
    "comment": hostile("comment", 500, "-"),
    "approval": hostile("approval", 500, "="),
    # the public notice (公示): a resident's objection and the staff's answer
    "objection": hostile("objection", 2000, "@"),
    "answer": hostile("answer", 2000, JS_URL),
}
# Stored but never shown on a page (the registry's phone is for staff's own records).
NOT_SHOWN = {"csv_phone"}


def test_every_payload_holds_a_script_and_the_long_ones_everything():
    assert all(SCRIPT in value for value in V.values() if value is not V["csv_phone"])
    assert all(piece in V["milestone"] for piece in PIECES)
    assert all(len(V[tag]) <= 64 for tag in ("sub_district", "community_a", "grid_a", "csv_name", "xlsx_name"))


# --- Checking a page ------------------------------------------------------------------------------

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster", "background", "cite",
                  "srcset", "longdesc", "ping", "manifest"}


class PageCheck(HTMLParser):
    """What an HTML page would run: script elements, event handler attributes, script URLs; and
    the text it shows (text nodes and attribute values, character references decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.shown: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>: an event handler attribute")
            if value is None:
                continue
            self.shown.append(value)
            if name in URL_ATTRIBUTES and re.sub(r"[\x00-\x20]", "", value).lower().startswith(
                    ("javascript:", "vbscript:", "data:text")):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>: a script URL")
        attributes = dict(attrs)
        if tag == "script":
            if not (attributes.get("src") or "").startswith("/static/"):
                self.problems.append(f"<script {attributes}>: not a script of /static/")
            self._in_script = True
        elif tag in ("base", "iframe", "object", "embed") or (
                tag == "meta" and (attributes.get("http-equiv") or "").lower() == "refresh"):
            self.problems.append(f"<{tag}>: not in any template")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append(f"an inline script: {data.strip()[:60]!r}")
        self.shown.append(data)


def check_html(body: str, csp: str | None) -> tuple[list[str], str]:
    """(the problems, the text shown) of an HTML page."""
    parser = PageCheck()
    parser.feed(body)
    parser.close()
    problems = parser.problems
    lower = body.lower()
    problems += [f"{raw!r} unescaped" for raw in UNESCAPED if raw in lower]
    if lower.count("<title") != 1 or lower.count("</title>") != 1:
        problems.append(f"{lower.count('<title')} <title> opened, {lower.count('</title>')} closed")
    if lower.count("<textarea") != lower.count("</textarea>"):
        problems.append(f"{lower.count('<textarea')} <textarea> opened, {lower.count('</textarea>')} closed")
    shown = "\n".join(parser.shown)
    if TEMPLATE_RAN in body or TEMPLATE_RAN in shown:
        problems.append("a template in the data ran ({{7*7}} became 49)")
    if not csp or "script-src 'self'" not in csp or "unsafe-inline" in csp or "unsafe-eval" in csp:
        problems.append(f"Content-Security-Policy {csp!r}")
    return problems, shown


def json_strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in json_strings(key) + json_strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in json_strings(item)]
    return []


def check_response(response) -> tuple[list[str], str]:
    """(the problems, the text shown) of an HTML page or a JSON answer; other types are refused."""
    body = response.get_data(as_text=True)
    if response.mimetype == "text/html":
        return check_html(body, response.headers.get("Content-Security-Policy"))
    if response.mimetype == "application/json":
        problems = []
        if response.headers.get("X-Content-Type-Options") != "nosniff":
            problems.append("JSON without X-Content-Type-Options: nosniff")
        strings = json_strings(json.loads(body))
        if any(TEMPLATE_RAN in s for s in strings):
            problems.append("a template in the data ran ({{7*7}} became 49)")
        return problems, "\n".join(strings)
    return [f"unexpected {response.mimetype}"], ""


def markers(text: str) -> set[str]:
    """The fields whose value is shown whole, from the marker up to its script (or its end)."""
    return {tag for tag, value in V.items() if (value[value.index("["):] if SCRIPT not in value else
                                                value[value.index("["):value.index(SCRIPT) + len(SCRIPT)]) in text}


def test_the_checks_catch_a_payload_that_was_not_escaped():
    csp = "default-src 'self'; script-src 'self'"
    good = ('<html><head><title>&lt;/title&gt;</title><script src="/static/js/ballot.js" defer></script></head>'
            '<body><p>&lt;script&gt;alert(1)&lt;/script&gt;</p><a href="/c/ca">x</a>'
            '<textarea>&lt;/textarea&gt;tpl{{7*7}}</textarea><img alt="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;">'
            '</body></html>')
    problems, shown = check_html(good, csp)
    assert problems == [] and "<script>alert(1)</script>" in shown and '"><img src=x onerror=alert(1)>' in shown
    bad = {
        "<p><script>alert(1)</script></p>": "inline script",
        '<p>"><img src=x onerror=alert(1)></p>': "event handler",
        "<a href=' javascript:alert(1)'>x</a>": "script URL",
        "<textarea></textarea></textarea>": "<textarea>",
        "<p>tpl49</p>": "template",
        '<script src="https://evil.example/x.js"></script>': "not a script of /static/",
        '<meta http-equiv="refresh" content="0;url=https://evil.example">': "<meta>",
    }
    for fragment, expected in bad.items():
        page = f"<html><head><title>t</title></head><body>{fragment}</body></html>"
        found = check_html(page, csp)[0]
        assert any(expected in problem for problem in found), (fragment, found)
    assert any("</title>" in p or "<title>" in p
               for p in check_html("<html><head><title></title></title></head></html>", csp)[0])
    assert check_html("<html><head><title>t</title></head></html>", "script-src 'self' 'unsafe-inline'")[0]


# --- The site, built through the forms and the API ------------------------------------------------

@dataclass
class Site:
    built: int          # ca 2025: voted (online, assisted, paper), closed early, being built
    open: int           # ca 2026: voting open
    review: int         # cb 2026: collecting, a proposal awaits
    projects: dict      # tag of the title -> project id
    batch: int
    receipts: list
    residents: list     # resident ids of ca's grid (with and without an account)
    browsers: dict      # role -> a signed-in test client (None: anonymous)


ROLES = {"anonymous": None, "resident": "resident-ca-1", "resident_b": "resident-cb-1", "staff": V["staff"],
         "grid_worker": V["worker"], "admin": "admin", "auditor": "auditor"}


def _problems_of(response) -> str:
    """What a refused form says (from its first alert on), to explain a failed step."""
    body = response.get_data(as_text=True)
    at = body.find('role="alert"')
    return " ".join(re.sub(r"<[^>]+>", " ", body[at:at + 3000] if at >= 0 else body[:1500]).split())


def expect(response, *statuses):
    assert response.status_code in statuses, (response.status_code, _problems_of(response))
    return response


def browser(app, username: str | None) -> IsolatedClient:
    client = app.test_client()
    if username:
        expect(client.post("/login", data={"username": username, "password": TEST_PASSWORD}), 302)
    return client


def bearer(client, username: str) -> dict:
    answer = expect(client.post("/api/v1/auth/token", json={"username": username, "password": TEST_PASSWORD}), 200)
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def beijing_minutes(delta: timedelta) -> str:
    return (utcnow() + timedelta(hours=8) + delta).strftime("%Y-%m-%dT%H:%M")


def registry_csv() -> bytes:
    rows = [["name", "id_number", "phone", "grid", "address"],
            [V["csv_name"], valid_id_number(701), V["csv_phone"], "ca-1", V["csv_address"]],
            [V["csv_name2"], valid_id_number(702), "", "ca-1", V["csv_address2"]]]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def registry_xlsx() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["姓名", "身份证号", "电话", "网格", "地址"])
    sheet.append([V["xlsx_name"], valid_id_number(703), None, "ca-1", V["xlsx_address"]])
    for row in sheet.iter_rows():
        for cell in row:
            cell.data_type = "s"  # text, even where it begins with = (as a staff member's sheet would)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def confirm_preview(client, preview):
    """Apply a registry preview as its page's form posts it, without marking anyone moved away."""
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*type="hidden"[^>]*value="([^"]*)"',
                             preview.get_data(as_text=True)))
    fields |= dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"[^>]*type="hidden"',
                              preview.get_data(as_text=True)))
    return client.post("/c/ca/residents/import/confirm", data={k: html.unescape(v) for k, v in fields.items()})


def cycle_of(response) -> int:
    return int(re.search(r"/cycles/(\d+)/manage", response.headers["Location"]).group(1))


def project_id(title: str) -> int:
    db.session.commit()
    return db.session.scalar(select(Project.id).where(Project.title == title))


def propose_form(client, cycle: int, title: str, description: str, location: str, cost: str = "30000"):
    return client.post(f"/cycles/{cycle}/propose", data={"title": title, "description": description,
                                                         "category": "lighting", "location": location,
                                                         "estimated_cost": cost})


def propose_api(client, headers, cycle: int, title: str, description: str = "说明", location: str = "",
                cost: str = "20000"):
    return client.post(f"/api/v1/cycles/{cycle}/proposals", headers=headers, json={
        "title": title, "description": description, "category": "road", "estimated_cost": cost,
        "location": location})


def open_voting(staff, cycle: int) -> None:
    expect(staff.post(f"/cycles/{cycle}/manage/window", data={
        "voting_opens_at": beijing_minutes(-timedelta(minutes=1)),
        "voting_closes_at": beijing_minutes(timedelta(days=7))}), 302)
    expect(staff.post(f"/cycles/{cycle}/manage/phase", data={"phase": "voting"}), 302)


@pytest.fixture()
def site(app, factory, runner, tmp_path) -> Site:
    app.config["UPLOAD_FOLDER"] = str(tmp_path)
    sub = factory.sub_district()
    ca, cb = factory.community(sub, "ca"), factory.community(sub, "cb")
    grid_a, grid_b = factory.grid(ca), factory.grid(cb)
    sub.name, ca.name, cb.name, grid_a.name, grid_b.name = (V["sub_district"], V["community_a"], V["community_b"],
                                                            V["grid_a"], V["grid_b"])
    residents = [factory.resident(ca, grid_a, f"resident-ca-{n}") for n in (1, 2)]
    factory.resident(cb, grid_b, "resident-cb-1")
    factory.user("staff-cb", "staff", cb)
    factory.user("admin", "admin")
    factory.user("auditor", "auditor")
    db.session.commit()
    for role, username, place in (("staff", V["staff"], ["--community", "ca"]),
                                  ("grid_worker", V["worker"], ["--community", "ca", "--grid", "ca-1"])):
        added = runner.invoke(args=["users", "add", "--role", role, "--username", username,
                                    "--password", TEST_PASSWORD, *place])
        assert added.exit_code == 0, added.output
    app.test_client_class = IsolatedClient
    staff, worker = browser(app, V["staff"]), browser(app, V["worker"])
    first, second = browser(app, "resident-ca-1"), browser(app, "resident-ca-2")
    admin, staff_b, api = browser(app, "admin"), browser(app, "staff-cb"), app.test_client()
    second_api, first_api, resident_b_api = (bearer(api, "resident-ca-2"), bearer(api, "resident-ca-1"),
                                             bearer(api, "resident-cb-1"))
    staff_api = bearer(api, V["staff"])

    # ca 2025: the registry, four proposals, the review, a vote on all three channels, closed early.
    built = cycle_of(expect(staff.post("/c/ca/cycles", data={"year": "2025"}), 302))
    for registry_file, name in ((registry_csv(), V["csv_file"]), (registry_xlsx(), "registry.xlsx")):
        preview = expect(staff.post("/c/ca/residents/import", content_type="multipart/form-data",
                                    data={"registry": (io.BytesIO(registry_file), name)}), 200)
        expect(confirm_preview(staff, preview), 302)  # the residents not in the file stay as they are
    expect(propose_form(first, built, V["title_form"], V["description_form"], V["location_form"]), 302)
    expect(propose_api(api, second_api, built, V["title_api"], V["description_api"], V["location_api"]), 201)
    expect(propose_form(first, built, V["title_rejected"], "说明", ""), 302)
    expect(propose_api(api, second_api, built, V["title_merged"]), 201)
    expect(staff.post(f"/cycles/{built}/manage/phase", data={"phase": "review", "reason": V["reason_review"]}), 302)
    kept, other, refused, merged = (project_id(V[tag]) for tag in ("title_form", "title_api", "title_rejected",
                                                                    "title_merged"))
    expect(staff.post(f"/proposals/{kept}/review", data={f"p{kept}-decision": "ballot", f"p{kept}-cost": "30000",
                                                         f"p{kept}-reason": V["reason_ballot"]}), 302)
    expect(api.post(f"/api/v1/proposals/{other}/review", headers=staff_api,
                    json={"decision": "ballot", "reason": V["reason_ballot_api"]}), 200)
    expect(staff.post(f"/proposals/{refused}/review", data={f"p{refused}-decision": "reject",
                                                            f"p{refused}-reason": V["reason_rejected"]}), 302)
    expect(api.post(f"/api/v1/proposals/{merged}/review", headers=staff_api,
                    json={"decision": "merge", "into": kept, "reason": V["reason_merged"]}), 200)
    open_voting(staff, built)
    expect(first.post(f"/cycles/{built}/ballot", data={"projects": [str(kept), str(other)]}), 302)
    person = residents[1].resident_id
    expect(worker.post(f"/cycles/{built}/assist/{person}/ballot", data={
        "projects": [str(kept)], "credential": TEST_PASSWORD, "request_id": "r" * 20}), 200)
    imported = list(db.session.scalars(select(Resident.id).where(Resident.name.in_(
        [V["csv_name"], V["csv_name2"], V["xlsx_name"]])).order_by(Resident.id)))
    assert len(imported) == 3
    batch_at = expect(worker.post(f"/cycles/{built}/paper", data={"grid": grid_a.id, "label": V["paper_label"]}),
                      302).headers["Location"]
    batch = int(re.search(r"/paper/(\d+)$", batch_at).group(1))
    for typist in (worker, staff):
        for resident in imported:
            expect(typist.post(f"/paper/{batch}/entries", data={"resident": resident, "projects": [str(other)]}),
                   302)
        expect(typist.post(f"/paper/{batch}/finish"), 302)
    expect(staff.post(f"/cycles/{built}/manage/phase", data={"phase": "results", "reason": V["reason_closed"],
                                                             "confirm": "y"}), 302)
    expect(api.post(f"/api/v1/cycles/{built}/objections", headers=first_api, json={"text": V["objection"]}), 201)
    objection = db.session.scalar(select(Objection.id).where(Objection.cycle_id == built))
    expect(staff.post(f"/objections/{objection}/answer", data={f"o{objection}-text": V["answer"]}), 302)
    db.session.get(Cycle, built).results_published_at -= timedelta(days=7)  # the public notice has run
    db.session.commit()
    expect(staff.post(f"/cycles/{built}/manage/phase", data={"phase": "implementation"}), 302)

    # Building: a milestone, a payment, completion, a rating, the acceptance; an approval.
    today = (utcnow() + timedelta(hours=8)).date().isoformat()
    expect(staff.post(f"/tracking/projects/{kept}/status", data={"to_status": "in_progress"}), 302)
    expect(staff.post(f"/tracking/projects/{kept}/milestones", content_type="multipart/form-data",
                      data={"happened_on": today, "text": V["milestone"]}), 302)
    expect(staff.post(f"/tracking/projects/{kept}/spending", data={
        "spent_on": today, "amount": "12000", "payee": V["payee"], "note": V["note"]}), 302)
    expect(staff.post(f"/tracking/projects/{kept}/status", data={"to_status": "completed"}), 302)
    expect(first.post(f"/tracking/projects/{kept}/rating", data={"score": "4", "comment": V["comment"]}), 302)
    expect(staff.post(f"/tracking/projects/{kept}/status", data={
        "to_status": "accepted", "accepted_on": today, "panel": V["panel"], "remarks": V["remarks"]}), 302)
    expect(admin.post("/tracking/ledger/ca/2025/approvals", data={"amount": "5000", "reason": V["approval"]}), 302)

    # ca 2026: two proposals on the ballot, voting open, one resident has voted.
    current = cycle_of(expect(staff.post("/c/ca/cycles", data={"year": "2026"}), 302))
    expect(propose_api(api, first_api, current, V["title_open"]), 201)
    expect(propose_form(second, current, V["title_open_form"], "说明", ""), 302)
    expect(staff.post(f"/cycles/{current}/manage/phase", data={"phase": "review"}), 302)
    on_ballot = [project_id(V["title_open"]), project_id(V["title_open_form"])]
    for project in on_ballot:
        expect(api.post(f"/api/v1/proposals/{project}/review", headers=staff_api, json={"decision": "ballot"}), 200)
    open_voting(staff, current)
    expect(api.put(f"/api/v1/cycles/{current}/ballot", headers=first_api, json={"projects": on_ballot}), 200)

    # cb 2026: collecting; a proposal awaits review.
    review = cycle_of(expect(staff_b.post("/c/cb/cycles", data={"year": "2026"}), 302))
    expect(propose_api(api, resident_b_api, review, V["title_b"]), 201)

    db.session.commit()
    titles = {tag: project_id(V[tag]) for tag in V if tag.startswith("title_")}
    receipts = list(db.session.scalars(select(Ballot.receipt).order_by(Ballot.id)))
    people = [r.resident_id for r in residents] + imported
    browsers = {role: (browser(app, username) if username else app.test_client()) for role, username in ROLES.items()}
    return Site(built=built, open=current, review=review, projects=titles, batch=batch, receipts=receipts,
                residents=people, browsers=browsers)


# --- The crawl ------------------------------------------------------------------------------------

DOWNLOADS = {"audit.download_record", "audit.download_roll", "audit.download_worker_counts", "audit.action_log_csv",
             "audit.verifier_script",
             "tracking.archive_csv", "tracking.archive_xlsx", "api.cycle_record"}
NOT_PAGES = {"static", "geography.set_language", "geography.set_text_size", "proposals.photo", "tracking.photo"}
RECEIPT_ENDPOINTS = {"ballots.receipt", "api.ballot_receipt"}


def query_variants(endpoint: str, s: Site) -> list[str]:
    """Query strings worth a visit besides none: filters that show more rows, and searches that
    echo what was typed (a payload)."""
    typed = quote(V["milestone"][:100], safe="")
    return {
        "tracking.archive": ["?state=all", f"?state=all&q={typed}", "?q=%5Btitle_form%5D"],
        "tracking.dashboard": ["?year=2025"],
        "ballots.receipt_check": [f"?code={s.receipts[0]}", f"?code={typed}"],
        "ballots.assist_list": [f"?q={typed}", "?q=%5Bcsv"],
        "ballots.paper_batch": [f"?resident={r}" for r in s.residents[2:]],
        "residents.voting_codes": ["?grid=ca-1", f"?grid=ca-1&q={typed}", f"?grid={typed}"],
        "api.projects": ["?status=completed", f"?status={typed}", "?community=ca&year=2025"],
    }.get(endpoint, [])


def urls(app, s: Site) -> list[tuple[str, str]]:
    """(endpoint, path) of every GET route with its arguments filled from the site."""
    db.session.commit()
    values = {
        "cycle_id": [s.built, s.open, s.review], "project_id": sorted(s.projects.values()),
        "year": [2025, 2026], "batch_id": [s.batch], "resident_id": s.residents,
    }
    found = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES | DOWNLOADS:
            continue
        names = sorted(rule.arguments)
        choices = []
        for name in names:
            if name == "code":
                choices.append(s.receipts[:3] + [V["title_form"][:30]] if rule.endpoint in RECEIPT_ENDPOINTS
                               else ["ca", "cb", V["community_a"][:20]])
            else:
                choices.append(values[name])
        for combination in itertools.product(*choices):
            with app.test_request_context():
                path = url_for(rule.endpoint, **dict(zip(names, combination)))
            found.append((rule.endpoint, path))
            found += [(rule.endpoint, path + query) for query in query_variants(rule.endpoint, s)]
    return found


LANGUAGES = {"zh": "zh-CN", "en": "en"}


def switch_language(site: Site, language: str) -> None:
    """Every visitor picks the language with the header's switch (a cookie)."""
    for client in site.browsers.values():
        expect(client.get(f"/lang/{'zh_CN' if language == 'zh' else 'en'}"), 302)


def crawl(app, site: Site, language: str) -> list[str]:
    """Open every GET route as every role; the problems found, and the fields never seen."""
    problems, seen_html, seen_json, opened, visits = [], set(), set(), set(), 0
    paths = urls(app, site)
    for role, client in site.browsers.items():
        headers = bearer(client, ROLES[role]) if ROLES[role] else {}
        for endpoint, path in paths:
            response = client.get(path, headers=headers if path.startswith("/api/") else {})
            visits += 1
            if response.status_code in (301, 302, 303):
                continue
            found, shown = check_response(response)
            if response.mimetype == "text/html":
                lang = re.search(r'<html lang="([^"]+)"', response.get_data(as_text=True))
                if not lang or lang.group(1) != LANGUAGES[language]:
                    found.append(f"<html lang={lang and lang.group(1)!r}>, not {LANGUAGES[language]!r}")
                seen_html |= markers(shown)
            else:
                seen_json |= markers(shown)
            if response.status_code == 200:
                opened.add(endpoint)
            problems += [f"{role} GET {path} ({response.status_code}): {p}" for p in found]
    problems = sorted(set(problems))
    if missed := set(V) - NOT_SHOWN - seen_html:
        problems.append(f"never shown on a page in {visits} answers (the crawl misses them): {sorted(missed)}")
    if missed := {"title_form", "title_api", "title_open", "location_form", "reason_rejected", "milestone",
                  "payee", "panel", "community_a"} - seen_json:
        problems.append(f"never in the API's answers: {sorted(missed)}")
    if unopened := {endpoint for endpoint, _path in paths} - opened:
        problems.append(f"routes no role could open (their pages went unchecked): {sorted(unopened)}")
    return problems


# --- Forms sent back and searches: what was typed is shown as text ---------------------------------

TYPED = hostile("typed", 200)
NOT_A_PHOTO = "[photo]" + SCRIPT + "<img src=x onerror=alert(1)>.jpg"  # browsers send " as %22


def sent_back(s: Site) -> list[tuple]:
    """(role, method, path, form, whether the page shows TYPED): forms refused and sent back, and
    pages that echo what was asked for. None of them changes anything stored."""
    today = (utcnow() + timedelta(hours=8)).date().isoformat()
    building, on_ballot = s.projects["title_api"], s.projects["title_open"]
    refused_registry = ("name,id_number,phone,grid,address\n"
                        f"{TYPED[:60]},{valid_id_number(799)},,{TYPED[:40]},{TYPED}\n").encode("utf-8-sig")
    quoted = quote(TYPED, safe="")
    return [
        ("anonymous", "POST", "/login", {"username": TYPED[:80], "password": "wrong-password"}, True),
        ("resident_b", "POST", f"/cycles/{s.review}/propose", {
            "title": TYPED[:120], "description": TYPED, "location": TYPED, "category": "lighting",
            "estimated_cost": "-5"}, True),
        ("resident_b", "POST", f"/cycles/{s.review}/propose", {
            "title": "路灯", "description": "太暗", "category": "lighting", "estimated_cost": "5000",
            "photos": (b"not a photo", NOT_A_PHOTO)}, False),
        ("resident", "POST", f"/cycles/{s.open}/vote/confirm", {"projects": [TYPED]}, False),
        ("staff", "POST", f"/proposals/{on_ballot}/review", {f"p{on_ballot}-decision": "reject",
                                                             f"p{on_ballot}-reason": TYPED}, False),
        # closing early unconfirmed: the close's page again, with the count's preview and the reason typed
        ("staff", "POST", f"/cycles/{s.open}/manage/phase", {"phase": "results", "reason": TYPED}, True),
        ("staff", "POST", f"/cycles/{s.open}/manage/window", {"voting_opens_at": TYPED,
                                                              "voting_closes_at": TYPED}, False),
        ("staff", "POST", f"/cycles/{s.open}/manage/rules", {"method": TYPED, "min_choices": TYPED,
                                                             "max_choices": TYPED, "points": TYPED,
                                                             "outcome_rule": TYPED, "threshold": TYPED}, False),
        ("staff", "POST", "/c/ca/cycles", {"year": TYPED}, True),
        ("staff", "POST", f"/tracking/projects/{building}/milestones", {"happened_on": "", "text": TYPED}, True),
        ("staff", "POST", f"/tracking/projects/{building}/spending", {
            "spent_on": today, "amount": TYPED, "payee": TYPED, "note": TYPED}, True),
        ("staff", "POST", f"/tracking/projects/{building}/status", {
            "to_status": "accepted", "accepted_on": today, "panel": TYPED, "remarks": TYPED}, False),
        ("resident", "POST", f"/tracking/projects/{building}/rating", {"score": "5", "comment": TYPED}, False),
        ("resident", "POST", f"/cycles/{s.built}/objections", {"text": TYPED}, True),  # the notice has ended
        ("admin", "POST", "/tracking/ledger/ca/2025/approvals", {"amount": TYPED, "reason": TYPED}, True),
        ("grid_worker", "POST", f"/cycles/{s.open}/paper", {"grid": "x", "label": TYPED[:80]}, True),
        ("grid_worker", "POST", f"/paper/{s.batch}/entries", {"resident": TYPED, "projects": [TYPED]}, False),
        ("grid_worker", "POST", f"/cycles/{s.open}/assist/{s.residents[1]}/ballot", {
            "projects": [str(on_ballot)], "credential": TYPED}, False),
        ("staff", "POST", "/c/ca/residents/import", {"registry": (refused_registry, "registry.csv")}, False),
        ("staff", "POST", "/c/ca/voting-codes", {"grid": TYPED[:32]}, False),
        ("staff", "POST", "/c/ca/voting-codes", {"grid": "ca-1"}, False),  # the sheet of slips: stored names
        ("anonymous", "GET", f"/receipts?code={quoted}", None, False),
        ("anonymous", "GET", f"/archive?q={quoted}", None, True),
        ("anonymous", "GET", f"/c/{quoted}", None, False),
        ("anonymous", "GET", f"/receipts/{quoted}", None, False),
        ("anonymous", "GET", f"/no/such/{quoted}", None, False),
        ("grid_worker", "GET", f"/cycles/{s.open}/assist?q={quoted}", None, True),
        ("staff", "GET", f"/c/ca/voting-codes?grid=ca-1&q={quoted}", None, True),
        ("resident_b", "POST", f"/api/v1/cycles/{s.review}/proposals", {
            "title": TYPED, "description": TYPED, "category": TYPED, "estimated_cost": TYPED}, False),
        ("anonymous", "GET", f"/api/v1/receipts/{quoted}", None, False),
        ("anonymous", "GET", f"/api/v1/projects?status={quoted}&community={quoted}", None, False),
    ]


def send_back(site: Site) -> list[str]:
    """Send the refused forms and the searches; the problems found."""
    problems = []
    for role, method, path, form, echoes in sent_back(site):
        client = site.browsers[role]
        if path.startswith("/api/"):
            headers = bearer(client, ROLES[role]) if ROLES[role] else {}
            response = client.open(path, method=method, json=form, headers=headers)
        elif form and any(isinstance(v, tuple) for v in form.values()):
            data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in form.items()}
            response = client.open(path, method=method, data=data, content_type="multipart/form-data")
        else:
            response = client.open(path, method=method, data=form)
        where = f"{role} {method} {path[:60]} ({response.status_code})"
        if response.status_code in (301, 302, 303) or response.status_code >= 500:
            problems.append(f"{where}: expected the form or page back")
            continue
        found, shown = check_response(response)
        problems += [f"{where}: {p}" for p in found]
        if echoes and "[typed]" + SCRIPT not in shown:
            problems.append(f"{where}: what was typed is not shown (the check proves nothing)")
    return problems


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_form_and_search_shows_the_payloads_as_text(app, site, language):
    """Every GET route as every role in one language (the stored payloads), then the forms sent back
    and the searches (what was typed)."""
    switch_language(site, language)
    problems = crawl(app, site, language) + send_back(site)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


# --- Downloads: no cell a spreadsheet would run ----------------------------------------------------

RUNS = FORMULA_STARTS[:-1]  # = + - @ tab CR (an apostrophe is the guard itself)


def csv_cells(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "no byte-order mark: Excel would not read the Chinese"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_cells(data: bytes) -> list[list]:
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        sheets = [book.read(name).decode() for name in book.namelist() if name.startswith("xl/worksheets/")]
    assert not any("<f>" in sheet or "<f " in sheet for sheet in sheets), "a formula in the workbook"
    book = load_workbook(io.BytesIO(data))
    rows = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert not any(cell.data_type == "f" for cell in row)
            rows.append([cell.value for cell in row])
    return rows


def test_downloads_hold_no_formula_and_the_records_still_verify(site, tmp_path):
    auditor, admin = site.browsers["auditor"], site.browsers["admin"]
    built, current = site.built, site.open
    downloads = {  # path -> the fields that must be in it (guarded where they start like a formula)
        f"/audit/cycles/{built}/record.csv": {"title_form", "title_api", "community_a"},
        f"/audit/cycles/{built}/record.xlsx": {"title_form", "title_api", "community_a"},
        f"/audit/cycles/{built}/workers.csv": {"worker"},  # the record names no worker: the count per worker does
        f"/audit/cycles/{current}/record.csv": {"title_open", "title_open_form", "community_a"},
        f"/audit/cycles/{current}/record.xlsx": {"title_open", "title_open_form"},
        f"/audit/cycles/{built}/roll.csv": {"grid_a", "csv_name", "csv_name2", "xlsx_name"},
        "/audit/log.csv": {"staff"},
        "/archive.csv?state=all": {"title_form", "title_api", "community_a", "sub_district"},
        "/archive.xlsx?state=all": {"title_form", "title_api", "community_a", "sub_district"},
    }
    problems = []
    for path, fields in downloads.items():
        response = auditor.get(path)
        assert response.status_code == 200, path
        data = response.get_data()
        response.close()  # the workbook is served from a spooled temporary file
        rows = xlsx_cells(data) if ".xlsx" in path else csv_cells(data)
        cells = [cell for row in rows for cell in row if isinstance(cell, str)]
        problems += [f"{path}: {cell[:50]!r} runs as a formula" for cell in cells if cell.startswith(RUNS)]
        texts = {plain(cell) for cell in cells}
        for tag in fields:
            if V[tag] not in texts:
                problems.append(f"{path}: {tag} is not in it")
            elif V[tag].startswith(RUNS) and "'" + V[tag] not in cells:
                problems.append(f"{path}: {tag} is not guarded")
        if path.startswith("/audit/cycles/") and "/record." in path:
            saved = tmp_path / path.rsplit("/", 1)[1].replace("record", f"record-{path.split('/')[3]}")
            saved.write_bytes(data)
            status, said = verify_record.verify(str(saved))
            if status != 0:
                problems.append(f"{path}: the verifier says {said}")
    assert not problems, "\n".join(problems)

    # The API's record is the same CSV; the JSON record carries the text as it is.
    api = auditor.get(f"/api/v1/cycles/{built}/record", headers=bearer(auditor, "auditor"))
    assert api.mimetype == "text/csv" and not [c for row in csv_cells(api.get_data()) for c in row
                                               if c.startswith(RUNS)]
    record = auditor.get(f"/audit/cycles/{built}/record.json")
    assert record.mimetype == "application/json"
    body = record.get_json()
    assert {V["title_form"], V["title_api"]} <= {p["title"] for p in body["projects"]}
    assert not any("worker" in b for b in body["ballots"]) and V["worker"] not in record.get_data(as_text=True)
    (tmp_path / "record.json").write_bytes(record.get_data())
    assert verify_record.verify(str(tmp_path / "record.json"))[0] == 0

    # The action log's chain still verifies once the guard is taken off again.
    log = csv.DictReader(io.StringIO(admin.get("/audit/log.csv").get_data().decode("utf-8-sig"), newline=""))
    rows = [{key: plain(value) for key, value in row.items()} for row in log]
    assert V["staff"] in {row["actor"] for row in rows} and first_bad_row(rows) is None


def test_the_guard_is_undone_exactly():
    from voting.spreadsheet import guard

    for text in ("=1+1", "+86 138", "-5", "@SUM(A1)", "\tx", "\rx", "'quoted", "''", "plain", "", "中文=1"):
        assert plain(guard(text)) == text
        assert not guard(text).startswith(RUNS)
    assert guard(-5) == -5 and guard(None) is None
