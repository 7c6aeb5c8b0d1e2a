"""Every user-facing string has a Chinese translation, and no page mixes the languages.

1. The catalogue: every message of the sources (voting/**/*.py, templates/**/*.html) is in the
   Chinese catalogue with a non-empty, non-fuzzy translation whose placeholders are the msgid's.
2. A crawl: with a site that has every kind of page to show (an open vote with ballots, a closed
   vote with its result, a cycle under review, one collecting proposals, projects being built,
   completed, accepted and rated), anonymous visitors, residents, staff, a grid worker, an auditor
   and the district admin open the main pages (and a few forms sent back with errors). In Chinese
   (the default: no Accept-Language) the visible text holds no English word; with
   `Accept-Language: en` it holds no Chinese character. Data (names of places and people, project
   titles and texts, usernames, codes) is taken out first; a few product names (API, CSV, …) may
   stay in Chinese pages.

When this fails for a new string: `make messages`, translate it (tools/po_fill.py), `make translations`.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from sqlalchemy import select

from voting.accounts.models import User
from voting.audit.records import SO_FAR
from voting.ballots.models import Ballot, PaperBatch
from voting.ballots.paper import add_entry, create_batch
from voting.ballots.casting import CastingCycle, Voter
from voting.ballots.services import cast_ballot
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.geography.models import Community, Grid, SubDistrict
from voting.proposals.models import Project
from voting.residents.models import Resident
from voting.tracking.models import Acceptance, FundApproval, Milestone, ProjectRating, SpendingEntry

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "voting" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
HOW_TO_FIX = "run `make messages`, translate (tools/po_fill.py FILE.json), then `make translations`"

PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[-#0 +]*(?:\d+|\*)?(?:\.\d+)?[diouxXeEfFgGcrsa%]")


# --- 1. The catalogue --------------------------------------------------------------------------

def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _catalogue():
    with CATALOGUE.open("rb") as f:
        return read_po(f, locale="zh_Hans_CN")


def _source_messages() -> dict[str, str]:
    """Every msgid (the singular of a plural) in the sources, with where it first appears."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    keywords = dict(DEFAULT_KEYWORDS, _l=None)
    found = {}
    for folder in ("voting", "templates"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
                str(ROOT / folder), method_map, options_map, keywords=keywords):
            msgid = message if isinstance(message, str) else message[0]
            found.setdefault(msgid, f"{folder}/{filename}:{lineno}")
    return found


def test_every_message_has_a_checked_chinese_translation():
    catalog = _catalogue()
    assert catalog.num_plurals == 1
    problems = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        if not all(s and s.strip() for s in strings):
            problems.append(f"untranslated: {msgid!r}")
            continue
        ids = list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]
        expected = _placeholders(ids[-1])  # the plural names the count too
        for text in strings:
            if _placeholders(text) != expected:
                problems.append(f"placeholders differ: {msgid!r} -> {text!r}")
    assert not problems, f"{len(problems)} problems ({HOW_TO_FIX}):\n" + "\n".join(problems)


def test_every_message_of_the_sources_is_in_the_catalogue():
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _catalogue() if m.id}
    missing = [f"{where}: {msgid!r}" for msgid, where in _source_messages().items() if msgid not in known]
    assert not missing, f"not in the catalogue ({HOW_TO_FIX}):\n" + "\n".join(missing)


def test_the_compiled_catalogue_is_current():
    compiled = CATALOGUE.with_suffix(".mo")
    assert compiled.exists() and compiled.stat().st_mtime >= CATALOGUE.stat().st_mtime, \
        "the compiled catalogue is older than messages.po: run `make translations`"


# --- 2. The crawl: what a page shows ------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
        "wbr"}
NOT_TEXT = {"script", "style", "code", "pre", "template", "svg"}
SHOWN_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label")


class VisibleText(HTMLParser):
    """The text a reader sees or hears: text nodes, alt/title/placeholder/aria-label, labels of input
    buttons and the messages the ballot's script shows (data-msg-*). Left out: scripts, styles,
    code, inline SVG, anything marked translate="no" and anything in another language than the
    page's (the language switch)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lang = None
        self.parts: list[str] = []
        self._open: list[tuple[str, bool]] = []  # the open elements: tag, and whether it hides its content

    def _hidden(self) -> bool:
        return any(hides for _tag, hides in self._open)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "html":
            self.lang = attrs.get("lang")
        other_language = ("lang" in attrs and self.lang is not None
                          and attrs["lang"].split("-")[0] != self.lang.split("-")[0])
        hides = tag in NOT_TEXT or attrs.get("translate") == "no" or other_language
        if not (self._hidden() or hides):
            for name, value in attrs.items():
                if value and (name in SHOWN_ATTRIBUTES or name.startswith("data-msg-")):
                    self.parts.append(value)
            if tag == "input" and attrs.get("type") in ("submit", "button", "reset") and attrs.get("value"):
                self.parts.append(attrs["value"])
        if tag not in VOID:
            self._open.append((tag, hides))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag):
        # An end tag closes its element and any element left open inside it (<li>, <p> …).
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                break

    def handle_data(self, data):
        if not self._hidden() and data.strip():
            self.parts.append(data)


def visible_text(html: str) -> tuple[str | None, str]:
    parser = VisibleText()
    parser.feed(html)
    parser.close()
    return parser.lang, "\n".join(parser.parts)


# Product names and formats that stay as they are in Chinese text.
ALLOWED_LATIN = {"API", "CSV", "XLSX", "JSON", "Excel", "QR", "PDF", "UTF", "ISO", "OK", "Python", "JPEG", "PNG",
                 "WebP", "MB", "GB", "pabulib", "pabutools", "pb", "csv", "xlsx"}
ALLOWED_NAMES = ("verify_record.py", "python3", f"“{SO_FAR}”")  # a file, a command, a status in the record
LATIN_WORD = re.compile(r"[A-Za-z]+")
CHINESE = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+")
URL = re.compile(r"\bhttps?://\S+")
RECEIPT = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\b")  # a receipt code, or its pattern XXXX-XXXX-XXXX
# Data that a template itself supplies: the search examples are words of the (Chinese) project titles.
TEMPLATE_DATA = ("路灯、电梯、停车",)


def data_strings(typed=()) -> list[str]:
    """What the database holds and pages show as it is (names, titles, texts, codes, receipts), and
    what the visitor typed."""
    columns = (
        SubDistrict.name, SubDistrict.code, Community.name, Community.code, Grid.name, Grid.code,
        Resident.name, Resident.address, User.username, Project.title, Project.description, Project.location,
        Project.review_reason, Cycle.closed_early_reason, Milestone.text, SpendingEntry.payee, SpendingEntry.note,
        Acceptance.panel, Acceptance.remarks, ProjectRating.comment, FundApproval.reason, PaperBatch.label,
        Ballot.receipt,
    )
    values = set(TEMPLATE_DATA) | {v for v in typed if v.strip()}
    for column in columns:
        values.update(v for v in db.session.scalars(select(column)) if v and v.strip())
    return sorted(values, key=len, reverse=True)


def without_data(text: str, data: list[str]) -> str:
    for value in data:
        if value.isascii():  # a code: only where it stands alone, not inside a word
            text = re.sub(rf"(?<![\w-]){re.escape(value)}(?![\w-])", " ", text)
        else:
            text = text.replace(value, " ")
    return RECEIPT.sub(" ", URL.sub(" ", text))


def english_words(text: str) -> list[str]:
    for name in ALLOWED_NAMES:
        text = text.replace(name, " ")
    return [w for w in LATIN_WORD.findall(text) if len(w) > 1 and w not in ALLOWED_LATIN]


def chinese_characters(text: str) -> list[str]:
    return CHINESE.findall(text)


def test_the_checks_catch_a_missing_translation():
    """The crawl's checks are strict: one English word in a Chinese page, or one Chinese character
    in an English page, is found; data, code, scripts and the language switch are not."""
    lang, text = visible_text(
        '<html lang="zh-CN"><head><title>提建议</title><script>var x = "Vote";</script></head><body>'
        '<a lang="en" href="/lang/en">English</a><p>投票 ca项目1 resident-ca-1 (CSV)</p>'
        '<code>cycle.open</code><p translate="no">7KQ2-M9XD-4T1B</p>'
        '<img alt="Photo of the street"><div data-msg-too-many="选多了"></div><p>Vote now</p></body></html>')
    assert lang == "zh-CN"
    assert english_words(without_data(text, ["resident-ca-1", "ca项目1"])) == ["Photo", "of", "the", "street",
                                                                             "Vote", "now"]
    _lang, text = visible_text('<html lang="en"><body><a lang="zh-CN">中文</a><p>Vote for ca项目1</p>'
                               '<p title="投票">Fund</p></body></html>')
    assert chinese_characters(without_data(text, ["ca项目1"])) == ["投票"]


# --- 2. The crawl: the site ---------------------------------------------------------------------

@dataclass
class Site:
    a_open: Cycle          # ca 2026: voting open, ballots online, assisted and on paper
    a_closed: Cycle        # ca 2024: voting closed early, counted
    a_built: Cycle         # ca 2025: implementation
    b_review: Cycle        # cb 2026: under review
    c_collect: Cycle       # cc 2026: collecting proposals
    funded: Project
    started: Project
    done: Project
    accepted: Project
    rejected: Project
    merged: Project
    submitted_cc: Project
    unvoted: Resident      # of ca's grid, has not voted
    batch: PaperBatch
    receipt: str           # the latest ballot of resident-ca-1
    superseded: str        # her first ballot


@pytest.fixture()
def site(world, factory, client) -> Site:
    now = utcnow()
    a, b = world.a, world.b

    # ca 2026, open: resident-ca-1 votes and changes her vote; resident-ca-2 votes with the grid
    # worker; a batch of paper ballots has one entry; resident-ca-3 has not voted.
    first = cast_ballot(db.session, CastingCycle.read(db.session, a.cycle), Voter.of_account(a.residents[0]),
                        [(a.projects[0].id, 1)], "online", None, now - timedelta(hours=2))
    latest = cast_ballot(db.session, CastingCycle.read(db.session, a.cycle), Voter.of_account(a.residents[0]),
                         [(a.projects[1].id, 1), (a.projects[3].id, 1)], "online", None, now - timedelta(hours=1))
    cast_ballot(db.session, CastingCycle.read(db.session, a.cycle), Voter.of_resident(a.residents[1].resident),
                [(a.projects[2].id, 1)], "assisted", a.worker, now - timedelta(minutes=30))
    batch = create_batch(db.session, a.worker, a.cycle, a.grid.id, "1号票箱 3月5日", now)
    add_entry(db.session, a.worker, batch, a.residents[2].resident_id, [(a.projects[0].id, 1)], now)

    # ca 2024: voted, closed early with a reason, counted (the results page stores the result).
    closed = factory.add(Cycle(community_id=a.community.id, year=2024, phase="voting",
                               voting_opens_at=now - timedelta(days=2), voting_closes_at=now + timedelta(days=1)))
    old = [factory.project(closed, f"ca旧项目{n}", cost) for n, cost in enumerate((120_000, 90_000, 40_000), 1)]
    for minutes, (voter, chosen) in enumerate([(a.residents[0], old[:2]), (a.residents[1], old[1:]),
                                               (a.residents[2], old[:1])]):
        cast_ballot(db.session, CastingCycle.read(db.session, closed), Voter.of_account(voter),
                    [(p.id, 1) for p in chosen], "online", None,
                    now - timedelta(hours=3) + timedelta(minutes=minutes))
    closed.voting_closes_at = now - timedelta(seconds=1)
    closed.closed_early_reason = "台风预警，经居民代表会议决定提前结束"

    # ca 2025, being built: a project funded, one in progress, one completed, one accepted.
    published = now - timedelta(days=60)
    built = factory.add(Cycle(community_id=a.community.id, year=2025, phase="implementation",
                              voting_opens_at=published - timedelta(days=20), voting_closes_at=published - timedelta(days=5),
                              results_published_at=published, implementation_started_at=published + timedelta(days=1)))
    funded = factory.project(built, "ca路灯安装", 80_000, status="funded", votes=120)
    started = factory.project(built, "ca道路修补", 60_000, status="in_progress", votes=100)
    done = factory.project(built, "ca健身器材", 40_000, status="completed", votes=90, completed_at=now)
    accepted = factory.project(built, "ca楼道扶手", 10_000, status="accepted", votes=80,
                               completed_at=now - timedelta(days=9), accepted_at=now - timedelta(days=2))
    factory.project(built, "ca未入选项目", 30_000, status="not_funded", votes=10)
    today = date.today()
    factory.add(Milestone(project_id=started.id, happened_on=today - timedelta(days=3), text="已进场施工，拆除旧路面",
                          recorded_by_id=a.staff.id))
    approval = factory.add(FundApproval(cycle_id=built.id, amount_fen=500_000, reason="材料涨价，经居民代表会议同意",
                                        approved_by_id=world.admin.id))
    factory.add(SpendingEntry(project_id=started.id, spent_on=today - timedelta(days=2), amount_fen=2_000_000,
                              payee="株洲市某建筑公司", note="首付款", recorded_by_id=a.staff.id))
    factory.add(SpendingEntry(project_id=accepted.id, spent_on=today - timedelta(days=1), amount_fen=1_500_000,
                              payee="石峰区某装修队", note="尾款", approval_id=approval.id, recorded_by_id=a.staff.id))
    factory.add(Acceptance(project_id=accepted.id, accepted_on=today - timedelta(days=2),
                           panel="社区居委会、居民代表、业主委员会", remarks="扶手牢固，居民满意", recorded_by_id=a.staff.id))
    for project in (done, accepted):
        factory.add(ProjectRating(project_id=project.id, resident_id=a.residents[1].resident_id, score=4,
                                  comment="老人上下楼方便多了"))

    # cb 2026, under review: a proposal to review, one rejected, one merged into another.
    review = b.cycle
    review.phase = "review"
    review.voting_opens_at, review.voting_closes_at = now + timedelta(days=5), now + timedelta(days=12)
    factory.project(review, "cb小区门口装监控", 90_000, status="submitted", submitted_by_id=b.residents[0].id,
                    location="3栋门口")
    rejected = factory.project(review, "cb修建停车场", 150_000, status="rejected",
                               review_reason="不属于惠民资金范围", submitted_by_id=b.residents[1].id)
    merged = factory.project(review, "cb路灯维修", 20_000, status="merged", merged_into_id=b.projects[0].id,
                             review_reason="与已列入票决的建议重复", submitted_by_id=b.residents[2].id)

    # cc 2026, collecting: a resident has proposed a project.
    cc = factory.community(a.community.sub_district, "cc")
    cc_grid = factory.grid(cc)
    factory.user("staff-cc", "staff", cc)
    proposer = factory.resident(cc, cc_grid, "resident-cc-1")
    collect = factory.cycle(cc, phase="collection")
    submitted_cc = factory.project(collect, "cc楼道照明改造", 15_000, status="submitted",
                                   submitted_by_id=proposer.id, location="5栋")
    db.session.commit()

    assert client.get(f"/cycles/{closed.id}/results").status_code == 200  # counts and stores the result
    return Site(a_open=a.cycle, a_closed=closed, a_built=built, b_review=review, c_collect=collect,
                funded=funded, started=started, done=done, accepted=accepted, rejected=rejected, merged=merged,
                submitted_cc=submitted_cc, unvoted=a.residents[2].resident, batch=batch,
                receipt=latest.answer["receipt"], superseded=first.answer["receipt"])


# What each visitor opens: (method, path, form). GETs answer 200 (or the status given); POSTs are
# forms sent back with errors, which change nothing.
def pages(role: str, s: Site) -> list[tuple]:
    a, c, built = s.a_open.id, s.a_closed.id, s.a_built.id
    public = [
        ("GET", "/"), ("GET", "/c/ca"), ("GET", "/c/cb"), ("GET", "/c/cc"),
        ("GET", f"/cycles/{a}"), ("GET", f"/cycles/{c}"), ("GET", f"/cycles/{s.b_review.id}"),
        ("GET", f"/cycles/{s.c_collect.id}"),
        ("GET", f"/cycles/{c}/results"), ("GET", f"/cycles/{c}/results/notice"), ("GET", f"/cycles/{a}/receipts"),
        ("GET", f"/cycles/{c}/receipts"),
        ("GET", "/receipts"), ("GET", f"/receipts?code={s.receipt}"), ("GET", f"/receipts/{s.superseded}"),
        ("GET", "/receipts?code=ZZZZ-ZZZZ-ZZZZ"),
        ("GET", f"/proposals/{s.rejected.id}"), ("GET", f"/proposals/{s.merged.id}"),
        ("GET", "/archive"), ("GET", "/archive?state=all"), ("GET", "/dashboard"), ("GET", "/dashboard?year=2025"),
        ("GET", "/tracking/ledger/ca"), ("GET", "/tracking/ledger/ca/2025"),
        ("GET", f"/tracking/projects/{s.started.id}"), ("GET", f"/tracking/projects/{s.done.id}"),
        ("GET", f"/tracking/projects/{s.accepted.id}"),
    ]
    errors = [("GET", f"/cycles/{a}/results", 409), ("GET", "/c/zz", 404), ("GET", "/no/such/page", 404),
              ("GET", "/archive?year=abc&page=0", 400)]
    by_role = {
        "anonymous": public + errors + [
            ("GET", "/login"), ("POST", "/login", {"username": "resident-ca-1", "password": "wrong-1"}),
            ("POST", "/login", {"username": "", "password": ""}),
            ("GET", f"/cycles/{a}/vote", 200, "follow"),  # to the sign-in page, which says why
        ],
        "resident-ca-1": [
            ("GET", "/"), ("GET", "/c/ca"), ("GET", f"/cycles/{a}"), ("GET", f"/cycles/{a}/vote"),
            ("POST", f"/cycles/{a}/vote", {"projects": [str(p) for p in _ballot(s)[:2]]}),
            ("POST", f"/cycles/{a}/vote/confirm", {"projects": [str(p) for p in _ballot(s)[:2]]}),
            ("POST", f"/cycles/{a}/vote/confirm", {"projects": [str(p) for p in _ballot(s)]}),
            ("GET", f"/cycles/{a}/my-ballot"), ("GET", f"/cycles/{c}/my-ballot"), ("GET", "/my/proposals"),
            ("GET", f"/cycles/{c}/results"), ("GET", f"/tracking/projects/{s.done.id}"),
            ("GET", "/account/password"),
            ("POST", "/account/password", {"current": "Test-Pass-1", "new": "abcdefgh", "confirm": "abcdefgh"}),
            ("POST", "/account/password", {"current": "nope", "new": "abcd1234x", "confirm": "abcd1234y"}),
            ("GET", f"/cycles/{s.c_collect.id}/propose", 403), ("GET", f"/cycles/{a}/manage", 403),
        ],
        "resident-ca-3": [("GET", f"/cycles/{a}/my-ballot"), ("GET", f"/cycles/{a}/vote")],
        "resident-cc-1": [
            ("GET", "/my/proposals"), ("GET", f"/cycles/{s.c_collect.id}/propose"),
            ("POST", f"/cycles/{s.c_collect.id}/propose", {"title": "", "description": "", "category": "",
                                                           "estimated_cost": "-5"}),
            ("POST", f"/cycles/{s.c_collect.id}/propose", {"title": "路灯", "description": "太暗",
                                                           "category": "lighting", "estimated_cost": "9000000"}),
            ("GET", f"/proposals/{s.submitted_cc.id}"),
        ],
        "staff-ca": [
            ("GET", "/c/ca"), ("GET", "/c/ca/manage"), ("GET", f"/cycles/{a}/manage"), ("GET", f"/cycles/{c}/manage"),
            ("GET", f"/cycles/{built}/manage"), ("GET", f"/cycles/{a}/assisted"), ("GET", f"/cycles/{a}/paper"),
            ("GET", f"/cycles/{a}/turnout"), ("GET", "/c/ca/residents/import"),
            ("POST", "/c/ca/residents/import", {"registry": (BAD_REGISTRY, "registry.csv")}),
            ("GET", "/c/ca/voting-codes"), ("GET", "/c/ca/voting-codes?grid=ca-1&q=zz"),
            ("POST", "/c/ca/voting-codes", {"grid": "ca-1"}),  # prints the grid's codes: the sheet of slips
            ("GET", "/my/proposals"), ("GET", "/tracking/ledger/ca/2025"),
            ("GET", f"/tracking/projects/{s.funded.id}/manage"), ("GET", f"/tracking/projects/{s.started.id}/manage"),
            ("GET", f"/tracking/projects/{s.done.id}/manage"), ("GET", f"/tracking/projects/{s.accepted.id}/manage"),
            ("POST", f"/tracking/projects/{s.started.id}/milestones", {"happened_on": "", "text": ""}),
            ("POST", f"/tracking/projects/{s.started.id}/spending",
             {"spent_on": date.today().isoformat(), "amount": "9999999", "payee": "某公司", "note": ""}),
            ("POST", f"/tracking/projects/{s.done.id}/status", {"to_status": "accepted", "accepted_on": "",
                                                                 "panel": "", "remarks": ""}),
            ("POST", "/c/ca/cycles", {"year": "1990"}),
            ("GET", "/audit", 403),
        ],
        "staff-cb": [
            ("GET", f"/cycles/{s.b_review.id}/manage"), ("GET", "/c/cb/manage"),
            ("POST", f"/proposals/{s.rejected.id}/review", {f"p{s.rejected.id}-decision": "reject",
                                                            f"p{s.rejected.id}-reason": ""}),
            ("POST", f"/cycles/{s.b_review.id}/manage/phase", {"phase": "voting"}),
        ],
        "staff-cc": [
            ("GET", f"/cycles/{s.c_collect.id}/manage"),
            ("POST", f"/cycles/{s.c_collect.id}/manage/rules", {"method": "cumulative", "min_choices": "1",
                                                                "max_choices": "", "points": "",
                                                                "outcome_rule": "greedy-threshold", "threshold": ""}),
            ("POST", f"/cycles/{s.c_collect.id}/manage/window", {"voting_opens_at": "2020-01-02T08:00",
                                                                 "voting_closes_at": "2020-01-01T08:00"}),
        ],
        "grid-ca-1": [
            ("GET", "/c/ca"), ("GET", f"/cycles/{a}/assist"), ("GET", f"/cycles/{a}/assist?q=zz"),
            ("GET", f"/cycles/{a}/assist/{s.unvoted.id}"),
            ("POST", f"/cycles/{a}/assist/{s.unvoted.id}/confirm", {"projects": [str(_ballot(s)[0])]}),
            ("GET", f"/cycles/{a}/paper"), ("GET", f"/paper/{s.batch.id}"), ("GET", f"/cycles/{a}/doors"),
        ],
        "auditor": [
            ("GET", "/audit"), ("GET", "/audit/log"), ("GET", f"/audit/cycles/{c}"), ("GET", f"/audit/cycles/{a}"),
            ("GET", f"/audit/cycles/{built}"), ("GET", f"/cycles/{a}/assisted"), ("GET", f"/cycles/{c}/results"),
            ("GET", "/c/ca"), ("GET", f"/cycles/{a}/manage", 403),
            ("GET", "/audit/log"),  # again: now it lists the auditor's own actions, with her role
        ],
        "admin": [
            ("GET", "/tracking/ledger/ca/2025"), ("GET", "/audit"), ("GET", "/c/ca/manage"),
            ("GET", f"/cycles/{a}/turnout"),
            ("GET", f"/tracking/projects/{s.accepted.id}"),
            ("POST", "/tracking/ledger/ca/2025/approvals", {"amount": "", "reason": ""}),
        ],
    }
    return by_role[role]


# A registry file with a bad row: no name, a bad ID number, an unknown grid, no address.
BAD_REGISTRY = b"name,id_number,phone,grid,address\n,123,,zz,\n"


def _ballot(s: Site) -> list[int]:
    return list(db.session.scalars(select(Project.id).where(Project.cycle_id == s.a_open.id,
                                                            Project.status == "on_ballot").order_by(Project.id)))


ROLES = ("anonymous", "resident-ca-1", "resident-ca-3", "resident-cc-1", "staff-ca", "staff-cb", "staff-cc",
         "grid-ca-1", "auditor", "admin")
LANGUAGES = {"zh": ({}, "zh-CN"), "en": ({"Accept-Language": "en"}, "en")}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_pages_speak_one_language(site, client, auth, role, language):
    headers, lang = LANGUAGES[language]
    if role != "anonymous":
        assert auth.login(role).status_code == 302
    visits = pages(role, site)
    typed = [v for page in visits if page[0] == "POST" for value in page[2].values()
             for v in ([value] if isinstance(value, str) else value) if isinstance(v, str)]
    data = data_strings(typed + ["zz"])  # and the unknown community's code asked for
    problems = []
    for page in visits:
        method, path = page[0], page[1]
        if method == "GET":
            expected = page[2] if len(page) > 2 else 200
            response = client.get(path, headers=headers, follow_redirects=len(page) > 3)
        else:
            expected = None
            form = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in page[2].items()}
            response = client.post(path, data=form, headers=headers)
        where = f"{method} {path}"
        if expected is not None and response.status_code != expected:
            problems.append(f"{where}: status {response.status_code}, expected {expected}")
            continue
        if response.status_code in (301, 302, 303):
            continue  # a form that was accepted after all: nothing to read
        if response.mimetype != "text/html":
            problems.append(f"{where}: {response.mimetype}")
            continue
        page_lang, text = visible_text(response.get_data(as_text=True))
        if page_lang != lang:
            problems.append(f"{where}: <html lang={page_lang!r}>, expected {lang!r}")
        text = without_data(text, data)
        if language == "zh":
            found = english_words(text)
            if found:
                problems.append(f"{where}: English in the Chinese page: {sorted(set(found))}\n    "
                                + _context(text, found[0]))
        else:
            found = chinese_characters(text)
            if found:
                problems.append(f"{where}: Chinese in the English page: {sorted(set(found))}\n    "
                                + _context(text, found[0]))
    assert not problems, f"{len(problems)} pages mix languages ({HOW_TO_FIX}):\n" + "\n".join(problems)


def _context(text: str, word: str) -> str:
    at = text.find(word)
    return " ".join(text[max(0, at - 60):at + 60].split())


# --- Flask's and Werkzeug's own errors --------------------------------------------------------

def test_framework_errors_speak_the_readers_language(app):
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import MethodNotAllowed, NotFound, TooManyRequests

    from voting.api import http_error_message

    for headers, expected in (({}, ["没有这个页面", "请再试一次", "过几分钟再试", "不支持这种请求"]),
                              ({"Accept-Language": "en"}, ["no such page", "try again", "few minutes",
                                                           "does not take"])):
        with app.app_context(), app.test_request_context(headers=headers):  # a fresh g: the locale is not cached
            said = [http_error_message(NotFound()), http_error_message(CSRFError("The CSRF token is missing.")),
                    http_error_message(TooManyRequests("10 per 15 minutes")), http_error_message(MethodNotAllowed())]
            assert [e in s for e, s in zip(expected, said, strict=True)] == [True] * 4, said
            assert http_error_message(NotFound("没有这张照片。")) == "没有这张照片。"  # a view's own words stay
