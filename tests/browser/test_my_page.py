"""Each role signs in on a 360×740 phone, lands on its own page ("我的") and reaches its main work
in one more tap; both pages pass axe-core (no serious or critical violation), fit 360 px and keep
the CSP, in Chinese and English; the own page fits in large text too. A resident votes and comes
back to their page through the receipt page's finish button, which now says they have voted."""
from __future__ import annotations

import pytest

from conftest import TEST_PASSWORD
from voting.extensions import db

from .conftest import needs_chromium
from .scenes import neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]

SMALL_PHONE = {"width": 360, "height": 740}


def land_and_tap(person, username: str, main_work: str, expected_path: str, name: str) -> None:
    """Sign in, land on /me, tap the main work (one tap), check both pages and the own page in large text."""
    person.login(username, TEST_PASSWORD)
    page = person.page
    assert page.url.endswith("/me"), page.url
    assert page.locator("header a.me[aria-current=page]").count() == 1
    person.check(f"50-me-{name}")
    with page.expect_navigation():
        page.locator("header a.text-size").click()  # larger text, and back to this page
    assert page.url.endswith("/me") and page.locator("html.large").count() == 1
    person.check(f"50-me-{name}-large")
    with page.expect_navigation():
        page.locator("header a.text-size").click()
    with page.expect_navigation():
        page.locator(main_work).first.click()
    assert page.url.endswith(expected_path), page.url
    person.check(f"51-me-{name}-work")


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_each_role_lands_on_its_page_and_reaches_its_work_in_one_tap(factory, live_server, phone, language):
    place = neighbourhood(factory)
    cycle, _projects = open_vote(factory, place)
    cycle_id = cycle.id
    db.session.commit()
    base = live_server(workers=1)

    resident = phone(base, language, viewport=SMALL_PHONE)
    land_and_tap(resident, "resident-qst01-1", f"main a.button[href='/cycles/{cycle_id}/vote']",
                 f"/cycles/{cycle_id}/vote", "resident")
    page = resident.page
    page.locator("label.ballot-choice").first.click()
    with page.expect_navigation():
        page.locator("form.ballot button[type=submit]").click()
    with page.expect_navigation():
        page.locator(f"form[action='/cycles/{cycle_id}/ballot'] button[type=submit]").click()
    receipt = page.locator(".receipt-code").inner_text().strip()
    resident.check("52-receipt-finish")
    with page.expect_navigation():
        page.locator("a.button.primary.finish").click()
    assert page.url.endswith("/me") and page.locator(".voted").count() == 1
    assert page.locator(".receipt-inline").inner_text().strip() == receipt
    resident.check("53-me-resident-voted")
    resident.go(f"/c/{place.code}")
    assert page.locator(".voted").count() == 1 and page.locator(f"a[href='/cycles/{cycle_id}/vote']").count() == 0
    resident.check("54-community-voted")
    resident.context.close()

    for username, main_work, path, name in (
            ("staff-qst01", f"main a.button[href='/cycles/{cycle_id}/manage']", f"/cycles/{cycle_id}/manage", "staff"),
            ("grid-qst01-1", f"main a.button[href='/cycles/{cycle_id}/doors']", f"/cycles/{cycle_id}/doors", "grid"),
            ("auditor", "main a.button[href='/audit']", "/audit", "auditor"),
            ("admin", "main a.button[href='/audit']", "/audit", "admin")):
        person = phone(base, language, viewport=SMALL_PHONE)
        land_and_tap(person, username, main_work, path, name)
        person.context.close()
