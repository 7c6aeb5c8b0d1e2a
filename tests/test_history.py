"""Every year of a community one tap away: the history list on the community page, the recorded results
of years voted before online voting (page and API), the results page's explanations and the notice's
date, and the auditor's action log in words."""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import cast

from voting.audit.services import log_action
from voting.audit.words import ACTION_LABELS
from voting.cycles.models import Cycle
from voting.database import utcnow
from voting.extensions import db
from voting.proposals.models import Project
from voting.results.models import CycleResult
from voting.results.services import tie_rule

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture()
def years(world, factory, client, auth):
    """ca: 2020 voted before online voting (recorded votes, one funded project built), 2026 voted here
    and counted (one resident revised: 3 ballots counted, 4 versions recorded), 2027 collecting."""
    past = factory.cycle(world.a.community, year=2020, phase="closed", voting_opens_at=datetime(2020, 4, 1, 1),
                         voting_closes_at=datetime(2020, 4, 15, 1), results_published_at=datetime(2020, 4, 16, 1))
    built = factory.project(past, "2020年路灯更换", 120_000, status="accepted", votes=321)
    lost = factory.project(past, "2020年健身器材", 150_000, status="not_funded", votes=188)
    unrecorded = factory.project(past, "2020年书屋", 40_000, status="not_funded")  # no votes in the archive
    db.session.commit()
    p1, p2, p3, p4 = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", world.a.cycle.id, [p1, p2])
    cast(client, auth, "resident-ca-2", world.a.cycle.id, [p1, p3])
    cast(client, auth, "resident-ca-3", world.a.cycle.id, [p3, p4])
    cast(client, auth, "resident-ca-3", world.a.cycle.id, [p2, p3, p4])
    world.a.cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert client.get(f"/cycles/{world.a.cycle.id}/results").status_code == 200  # published
    following = factory.cycle(world.a.community, year=2027, phase="collection")
    db.session.commit()
    world.extra.update(past=past, built=built, lost=lost, unrecorded=unrecorded, following=following)
    return world


def links(page: str) -> set[str]:
    section = page.split('id="history"', 1)[1].split("</section>", 1)[0]
    return set(re.findall(r'href="([^"]+)"', section))


@pytest.mark.parametrize("headers, phase_closed", [(EN, "Closed"), (ZH, "已归档")])
def test_every_year_is_one_tap_from_the_community_page(years, client, headers, phase_closed):
    counted, past, following = years.a.cycle, years.extra["past"], years.extra["following"]
    page = client.get("/c/ca", headers=headers).get_data(as_text=True)
    found = links(page)
    # the result published this year stays reachable now that next year's cycle is open
    assert {f"/cycles/{counted.id}/results", f"/cycles/{counted.id}/results/notice",
            f"/cycles/{counted.id}/receipts", "/tracking/ledger/ca/2026"} <= found
    # the recorded year: its results and ledger, no notice or receipts (it has none here)
    assert {f"/cycles/{past.id}/results", "/tracking/ledger/ca/2020"} <= found
    assert f"/cycles/{past.id}/results/notice" not in found and f"/cycles/{past.id}/receipts" not in found
    # next year: its proposals, no result yet
    assert f"/cycles/{following.id}" in found and f"/cycles/{following.id}/results" not in found
    years_listed = re.findall(r"<h3>[^<]*?(\d{4})[^<]*</h3>", page.split('id="history"', 1)[1])
    assert years_listed == ["2027", "2026", "2020"]
    assert phase_closed in page
    for href in found:  # every link answers
        assert client.get(href, headers=headers).status_code == 200, href


def test_a_community_without_cycles_has_no_history(world, factory, client):
    factory.community(world.a.community.sub_district, "cz")
    db.session.commit()
    page = client.get("/c/cz").get_data(as_text=True)
    assert 'id="history"' not in page


def test_recorded_year_in_the_api(years, client):
    past, built, lost, unrecorded = (years.extra[k] for k in ("past", "built", "lost", "unrecorded"))
    response = client.get(f"/api/v1/cycles/{past.id}/results", headers=EN)
    assert response.status_code == 200  # the answer passed its model's check
    body = response.get_json()
    assert body["source"] == "recorded" and "not counted by this service" in body["source_note"]
    assert body["ballots_counted"] is None and body["turnout"] is None and body["chain"] is None
    assert body["selected"] == [built.id]
    assert [(p["id"], p["votes"], p["cost"], p["selected"], p["reason_code"]) for p in body["projects"]] == [
        (built.id, 321, "120000.00", True, "recorded_funded"),
        (lost.id, 188, "150000.00", False, "recorded_not_funded"),
        (unrecorded.id, None, "40000.00", False, "recorded_not_funded")]
    assert body["notice"]["published_at"] == "2020-04-16T01:00:00Z" and body["notice"]["open"] is False
    counted = client.get(f"/api/v1/cycles/{years.a.cycle.id}/results").get_json()
    assert counted["source"] == "counted" and counted["ballots_counted"] == 3 and counted["chain"]["seq"] == 4
    # nothing is counted or stored for the recorded year, and its figures stay
    assert db.session.get(CycleResult, past.id) is None
    assert db.session.get(Project, built.id).votes == 321


@pytest.mark.parametrize("headers, words", [
    (EN, ["Recorded from the community's archive, not counted by this service.", "321 votes", "votes not recorded",
          "¥120,000"]),
    (ZH, ["2020年路灯更换", "¥120,000", '<html lang="zh']),
])
def test_recorded_year_page(years, client, headers, words):
    past = years.extra["past"]
    response = client.get(f"/cycles/{past.id}/results", headers=headers)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and all(w in page for w in words), page
    assert page.index("2020年路灯更换") < page.index("2020年健身器材") < page.index("2020年书屋")
    assert "返回首页" not in page and "/receipts" not in page
    notice = client.get(f"/cycles/{past.id}/results/notice")
    assert notice.status_code == 302 and notice.headers["Location"].endswith(f"/cycles/{past.id}/results")


def test_results_page_explains_versions_and_ties_in_votes(years, client):
    page = client.get(f"/cycles/{years.a.cycle.id}/results", headers=EN).get_data(as_text=True)
    assert "Why 4 and not 3" in page and "replaces their earlier ballot" in page
    assert "ranked by their votes; between equal votes" in page and "score" not in page.lower()


def test_tie_rule_speaks_of_points_on_cumulative_ballots(app):
    with app.test_request_context(headers=EN):
        assert "ranked by their points" in tie_rule(Cycle(method="cumulative"), "greedy")
        assert "ranked by their votes" in tie_rule(Cycle(method="approval"), "greedy")
        assert "ranked by their votes" in tie_rule(Cycle(method="knapsack"), "greedy")
        assert "Equal shares" in tie_rule(Cycle(method="approval"), "mes")


@pytest.mark.parametrize("headers, date", [(EN, "Published on May 3, 2026"), (ZH, "2026年5月3日")])
def test_the_notice_carries_its_publication_day(years, client, headers, date):
    cycle = years.a.cycle
    cycle.results_published_at = datetime(2026, 5, 2, 20, 30, 15)  # 3 May, 04:30:15 in Beijing
    db.session.commit()
    page = client.get(f"/cycles/{cycle.id}/results/notice", headers=headers).get_data(as_text=True)
    sign = page.split('class="notice-sign"', 1)[1].split("</p>", 1)[0]
    assert date in sign and "04:30" not in sign and ":15" not in sign


@pytest.fixture()
def logged(world):
    """A payment, a record download and a status change, in two communities."""
    project = world.a.projects[0]
    log_action(db.session, world.a.staff, "tracking.spending", world.a.community, project=project.id,
               entry=1, date="2026-05-01", amount_fen=1_234_550, payee="湘天市政", approval=None)
    log_action(db.session, world.auditor, "audit.download_record", world.b.community,
               cycle=world.b.cycle.id, format="csv", status="final", rows=4, via="page")
    log_action(db.session, world.a.staff, "cycle.phase", world.a.community, cycle=world.a.cycle.id, phase="results")
    db.session.commit()
    return world


def test_the_action_log_in_words(logged, client, auth):
    auth.login("auditor")
    page = client.get("/audit/log", headers=EN).get_data(as_text=True)
    for words in ("Recorded a payment", "¥12,345.50", "ca项目1", "Downloaded the ballot record", "Moved the cycle",
                  "staff-ca (Community staff)", "auditor (Auditor)", "Results"):
        assert words in page, words
    assert "amount_fen" not in page and "1234550" not in page and "<code>tracking.spending" not in page
    assert "audit.download_record" not in page.split("log-entries", 1)[1]


def test_the_action_log_filters_by_action_and_community(logged, client, auth):
    auth.login("auditor")
    only = client.get("/audit/log?action=tracking.spending", headers=EN).get_data(as_text=True)
    assert "Recorded a payment" in only.split("log-entries", 1)[1]
    assert "Downloaded the ballot record" not in only.split("log-entries", 1)[1]
    assert "1 matching action" in only and '<option selected value="tracking.spending">' in only
    there = client.get("/audit/log?community=cb", headers=EN).get_data(as_text=True).split("log-entries", 1)[1]
    assert "Downloaded the ballot record" in there and "Recorded a payment" not in there
    unknown = client.get("/audit/log?action=nonsense", headers=EN)  # not a choice: everything
    assert unknown.status_code == 200 and "Recorded a payment" in unknown.get_data(as_text=True)
    zh = client.get("/audit/log?community=ca", headers=ZH)
    assert zh.status_code == 200 and '<html lang="zh' in zh.get_data(as_text=True)


def test_every_logged_action_has_a_label():
    """Each action code the source logs is labelled for the page (a new one must be added)."""
    source = Path(__file__).resolve().parents[1] / "voting"
    codes = set()
    for path in source.rglob("*.py"):
        for line in path.read_text().splitlines():
            if re.search(r'log_action|log_staff_action|DownloadLog\(|action = "', line):
                codes |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', line))
    codes -= {"verify_record.py"}
    assert len(codes) > 25 and codes <= set(ACTION_LABELS), sorted(codes - set(ACTION_LABELS))


def test_the_audit_record_names_funded_projects_by_title(years, client, auth):
    auth.login("auditor")
    page = client.get(f"/audit/cycles/{years.a.cycle.id}", headers=EN).get_data(as_text=True)
    funded = page.split("funded-projects", 1)[1].split("</ol>", 1)[0]
    assert "ca项目3" in funded and "ca项目2" in funded and "ca项目1" in funded and "ca项目4" not in funded
    home = client.get("/audit", headers=EN).get_data(as_text=True)
    assert f"/cycles/{years.extra['past'].id}/results" in home
