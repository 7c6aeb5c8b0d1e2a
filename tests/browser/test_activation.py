"""Tried as a new user would: two residents imported with `voting import-residents`, their codes
issued with `voting issue-codes`, one activated through the API and one on a 360 px phone in Chinese
(in the larger text too), and both vote online in a vote that opened after the import."""
from __future__ import annotations

import csv
import json
import urllib.error
import urllib.request

import pytest

from factories import valid_id_number
from voting.database import utcnow
from voting.extensions import db

from .conftest import NARROW, needs_chromium
from .scenes import neighbourhood, open_vote
from .test_pages import TARGETS_JS

pytestmark = [needs_chromium, pytest.mark.server]


def call(base: str, method: str, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_residents_imported_and_issued_codes_activate_and_vote(app, factory, live_server, phone, tmp_path):
    place = neighbourhood(factory)
    db.session.commit()
    runner = app.test_cli_runner()
    numbers = {"王秀英": valid_id_number(468), "李建国": valid_id_number(469)}
    registry = tmp_path / "registry.csv"
    registry.write_text("name,id_number,phone,grid,address\n" + "".join(
        f"{name},{number},,qst01-1,清水塘路3栋{n}01\n" for n, (name, number) in enumerate(numbers.items(), 1)))
    imported = runner.invoke(args=["import-residents", str(registry), "--community", "qst01"])
    assert imported.exit_code == 0, imported.output
    slips = tmp_path / "codes.csv"
    issued = runner.invoke(args=["issue-codes", "--community", "qst01", "--grid", "qst01-1", "--only-new",
                                 "--output", str(slips)])
    assert issued.exit_code == 0, issued.output
    with slips.open(encoding="utf-8-sig") as stream:
        codes = {row["name"]: row["voting_code"] for row in csv.DictReader(stream)}
    assert set(numbers) <= set(codes)  # and the grid's other residents, who had no code either
    cycle, projects = open_vote(factory, place)
    cycle.voting_opens_at = utcnow()  # the vote opens after the import: both are in its electorate
    db.session.commit()
    base = live_server(workers=1)

    # 李建国 through the API (the mini-program), then the real sign-in, then a ballot.
    status, body = call(base, "POST", "/api/v1/auth/activate",
                        {"voting_code": codes["李建国"], "id_last6": numbers["李建国"][-6:], "username": "lijg",
                         "password": "Jianguo-66"})
    assert status == 201 and body["username"] == "lijg", body
    status, body = call(base, "POST", "/api/v1/auth/token", {"username": "lijg", "password": "Jianguo-66"})
    assert status == 200
    status, cast = call(base, "PUT", f"/api/v1/cycles/{cycle.id}/ballot", {"projects": [projects[1].id]},
                        token=body["token"])
    assert status == 200 and cast["receipt"], cast

    # 王秀英 on her phone: 360 px, Chinese.
    code, number = codes["王秀英"], numbers["王秀英"]

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
