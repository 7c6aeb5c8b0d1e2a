"""Every year one tap away, and the action log in words, on a 360 px phone in both languages and in
large text: nothing scrolls sideways, axe finds nothing serious (screenshots to look at)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conftest import TEST_PASSWORD
from voting.audit.services import log_action
from voting.database import utcnow
from voting.extensions import db
from voting.results.services import ensure_result

from .conftest import NARROW, needs_chromium
from .scenes import BEIJING, neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_history_and_action_log_at_360_px(factory, live_server, phone, language):
    place = neighbourhood(factory)
    year = datetime.now(BEIJING).year
    past = factory.cycle(place.community, year=2020, phase="closed", voting_opens_at=datetime(2020, 4, 1, 1),
                         voting_closes_at=datetime(2020, 4, 15, 1), results_published_at=datetime(2020, 4, 16, 1))
    built = factory.project(past, "清水塘井塘小区二次供水设施改造", 96_000, status="accepted", votes=512)
    factory.project(past, "清水塘莱茵小镇老旧电线规整入地", 150_000, status="not_funded", votes=233)
    cycle, projects = open_vote(factory, place)
    cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    ensure_result(db.session, cycle, utcnow())
    factory.cycle(place.community, year=year + 1, phase="collection")
    staff = factory.user("staff-qst01-log", "staff", place.community)
    log_action(db.session, staff, "tracking.spending", place.community, project=built.id, entry=1,
               date="2020-09-01", amount_fen=2_880_000, payee="株洲市石峰区宏达建筑工程有限公司",
               approval=None)
    log_action(db.session, staff, "cycle.phase", place.community, cycle=cycle.id, phase="results",
               reason="居民代表会议决定提前截止，因台风停电两天，全体居民已投票完毕。")
    db.session.commit()
    base = live_server(workers=1)

    reader = phone(base, language, viewport=NARROW)
    reader.go("/c/qst01#history")
    history = reader.page.locator("#history")
    assert history.locator(".history-year").count() == 4  # next year, this year, last year, 2020
    reader.check("70-community-history")
    reader.go(f"/cycles/{past.id}/results")
    assert "512" in reader.page.locator("main").inner_text()
    reader.check("71-results-recorded-2020")

    auditor = phone(base, language, viewport=NARROW)
    auditor.login("auditor", TEST_PASSWORD)
    auditor.go("/audit/log")
    assert auditor.page.locator(".log-entry").count() >= 2
    assert "28,800" in auditor.page.locator(".log-entries").inner_text()
    auditor.check("72-audit-log")
    auditor.page.select_option("select[name=action]", "tracking.spending")
    with auditor.page.expect_navigation():
        auditor.page.locator("form.log-filters button[type=submit]").click()
    assert auditor.page.locator(".log-entry").count() == 1
    auditor.check("73-audit-log-filtered")

    for person, path in ((reader, "/c/qst01"), (auditor, "/audit/log")):  # large text (A+)
        person.context.add_cookies([{"name": "text", "value": "large", "url": base}])
        person.go(path)
        person.check(f"74-large-{path.strip('/').replace('/', '-')}")
