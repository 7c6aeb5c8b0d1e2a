"""Closing the vote early on a phone, in Chinese and English: the dashboard leads to the preview
(turnout against the minimum, what the count would fund), which needs a reason and a ticked
confirmation; then the result funds no project without votes. axe-core, 360 px and the CSP are
checked on the preview."""
from __future__ import annotations

import pytest

from conftest import TEST_PASSWORD
from voting.extensions import db

from .conftest import needs_chromium
from .scenes import neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_closing_early_shows_the_count_and_asks_to_confirm(factory, live_server, phone, client, auth, language):
    place = neighbourhood(factory)
    cycle, projects = open_vote(factory, place)
    cycle.min_turnout_percent = 10
    db.session.commit()
    response = client.put(f"/api/v1/cycles/{cycle.id}/ballot", json={"projects": [projects[1].id]},
                          headers=auth.headers("resident-qst01-1"))
    assert response.status_code == 200
    base = live_server(workers=1)

    staff = phone(base, language)
    staff.login("staff-qst01", TEST_PASSWORD)
    staff.go(f"/cycles/{cycle.id}/manage")
    with staff.page.expect_navigation():
        staff.page.locator(f"a[href='/cycles/{cycle.id}/manage/close']").click()
    assert staff.page.locator("li.result.funded").count() == 1
    assert staff.page.locator("li.result.unfunded").count() == 3
    staff.check("60-close-early-preview")

    staff.page.fill("textarea[name=reason]", "台风预警，提前结束")
    with staff.page.expect_navigation():
        staff.page.locator("main form button[type=submit]").click()
    assert staff.page.locator("input[name=confirm][aria-invalid=true]").count() == 1  # not ticked: asked again
    staff.page.check("input[name=confirm]")
    with staff.page.expect_navigation():
        staff.page.locator("main form button[type=submit]").click()
    assert f"/cycles/{cycle.id}/manage" in staff.page.url

    staff.go(f"/cycles/{cycle.id}/results")
    assert staff.page.locator("li.result.funded").count() == 1
    staff.check("61-result-after-early-close")
