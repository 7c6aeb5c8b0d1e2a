"""A registered resident activates the account on a 360 px phone in Chinese, with the slip's code and
the ID number's last six, lands signed in on the community's page and votes online."""
from __future__ import annotations

import os

import pytest

from factories import REGISTERED_AT, valid_id_number
from voting.ballots.services import issue_voting_code
from voting.extensions import db
from voting.residents.idcheck import hash_id_last6
from voting.residents.models import Resident
from voting.residents.services import hash_id_number

from .conftest import NARROW, needs_chromium
from .scenes import neighbourhood, open_vote
from .test_pages import TARGETS_JS

pytestmark = [needs_chromium, pytest.mark.server]


def test_a_resident_activates_on_a_narrow_phone_and_votes(factory, live_server, phone):
    place = neighbourhood(factory)
    cycle, projects = open_vote(factory, place)
    key, number = os.environ["VOTING_SECRET_KEY"], valid_id_number(468)  # the live server's key
    resident = factory.add(Resident(community_id=place.community.id, grid_id=place.grids[0].id, name="王秀英",
                                    address="清水塘路3栋2单元101", id_hash=hash_id_number(key, number),
                                    id_last6_hash=hash_id_last6(key, number), created_at=REGISTERED_AT))
    code = issue_voting_code(db.session, resident)
    db.session.commit()
    base = live_server(workers=1)

    voter = phone(base, "zh_CN", viewport=NARROW)
    voter.go("/c/qst01")
    page = voter.page
    with page.expect_navigation():
        page.locator("a[href='/activate?community=qst01']").click()
    assert page.locator("#voting_code").get_attribute("inputmode") == "numeric"
    assert page.locator("#voting_code").get_attribute("autocomplete") == "one-time-code"
    assert page.locator("h1").inner_text() == "开通账号"
    voter.check("40-activate-360")
    assert page.evaluate(TARGETS_JS) == []

    # In the larger text too: nothing scrolls sideways, every target stays big.
    with page.expect_navigation():
        page.locator("a.text-size").click()
    assert "/activate" in page.url and page.locator("html").get_attribute("class") == "large"
    page.fill("#voting_code", code)
    page.fill("#id_last6", number[-6:].lower())
    page.fill("#username", "wangxy")
    page.fill("#password", "Qingshui-88")
    page.fill("#confirm", "Qingshui-88")
    assert page.evaluate("() => { const el = document.querySelector('#voting_code'); "
                         "return el.scrollWidth <= el.clientWidth; }"), "the code does not fit its field"
    voter.check("41-activate-360-large-filled")
    assert page.evaluate(TARGETS_JS) == []
    with page.expect_navigation():
        page.locator("form button[type=submit]").click()
    assert page.url.endswith("/c/qst01"), page.url
    assert "wangxy" in page.locator("header").inner_text()
    voter.check("42-activated-community")

    # Signed in as the new account: vote online.
    with page.expect_navigation():
        page.locator(f"a[href='/cycles/{cycle.id}/vote']").first.click()
    page.locator("label.ballot-choice").first.click()
    with page.expect_navigation():
        page.locator("form.ballot button[type=submit]").click()
    with page.expect_navigation():
        page.locator(f"form[action='/cycles/{cycle.id}/ballot'] button[type=submit]").click()
    assert page.locator(".receipt-code").inner_text().strip()
    voter.check("43-activated-voted")
