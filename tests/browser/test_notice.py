"""The public notice (公示) in a browser: a resident objects on the results page, the staff answer
there, and the printed notice shows the publication date, the period, how to object and a place for
the seal (screenshots on a phone and as printed on A4)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import TEST_PASSWORD
from voting.database import utcnow
from voting.extensions import db
from voting.results.services import ensure_result

from .conftest import SHOTS, needs_chromium
from .scenes import neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_objection_answer_and_the_printed_notice(factory, live_server, phone, language):
    place = neighbourhood(factory)
    cycle, projects = open_vote(factory, place)
    cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    ensure_result(db.session, cycle, utcnow())
    db.session.commit()
    base = live_server(workers=1)

    resident = phone(base, language)
    resident.login("resident-qst01-1", TEST_PASSWORD)
    resident.go(f"/cycles/{cycle.id}/results#objections")
    resident.page.fill("textarea[name=text]", "路灯改造为什么没有入选？请公开说明。")
    with resident.page.expect_navigation():
        resident.page.locator("#objections form button[type=submit]").click()
    assert "路灯改造为什么没有入选" in resident.page.locator("#objections").inner_text()

    staff = phone(base, language)
    staff.login("staff-qst01", TEST_PASSWORD)
    staff.go(f"/cycles/{cycle.id}/results#objections")
    staff.page.locator("#objections textarea").first.fill("本次没有居民投票，按规则没有项目入选；详见计票说明。")
    with staff.page.expect_navigation():
        staff.page.locator("#objections form button[type=submit]").first.click()
    staff.check("60-results-objection-answered")

    reader = phone(base, language)  # the public, signed out
    reader.go(f"/cycles/{cycle.id}/results")
    section = reader.page.locator("#objections").inner_text()
    assert "路灯改造为什么没有入选" in section and "本次没有居民投票" in section

    reader.go(f"/cycles/{cycle.id}/results/notice")
    notice = reader.page.locator("article.notice")
    assert notice.locator(".notice-seal").is_visible() and notice.locator(".notice-period").is_visible()
    reader.check("61-results-notice")
    reader.page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    reader.page.emulate_media(media="print")
    reader.shot("62-results-notice-printed")
    assert reader.page.locator("header.top").is_hidden()  # the print stylesheet shows the notice alone
    reader.page.pdf(path=str(SHOTS / language / "62-results-notice.pdf"), format="A4")
