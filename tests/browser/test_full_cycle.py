"""The whole year on a phone, in Chinese and in English: staff open next year's cycle, residents
propose, staff review, set the window and rules and open the vote; a resident votes, changes the
vote and checks the receipt; staff close the vote early with a reason; the public sees the result;
an auditor downloads the record and the standalone verifier passes on it.

Every main page is checked with axe-core (no serious or critical violation), at 360 px (nothing
scrolls sideways) and against the Content-Security-Policy; every step leaves a screenshot.
"""
from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from conftest import TEST_PASSWORD
from voting.database import utcnow
from voting.extensions import db

from .conftest import check_contrast_enhanced, needs_chromium
from .scenes import local_minute, neighbourhood

pytestmark = [needs_chromium, pytest.mark.server]


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_a_year_of_the_fund_on_a_phone(factory, live_server, phone, tmp_path, language):
    place = neighbourhood(factory)
    db.session.commit()
    base = live_server(workers=2)

    # The public finds the community from the district's home page.
    public = phone(base, language)
    public.go("/")
    public.check("01-home")
    public.page.locator(f"a.tile[href='/c/{place.code}']").click()
    public.page.wait_for_load_state()
    public.check("02-community-before")

    # Staff open next year's cycle.
    staff = phone(base, language)
    staff.login("staff-qst01", TEST_PASSWORD)
    staff.go(f"/c/{place.code}/manage")
    staff.check("03-staff-open-cycle")
    with staff.page.expect_navigation():
        staff.page.locator(f"form[action='/c/{place.code}/cycles'] button[type=submit]").click()
    assert "/manage" in staff.page.url
    cycle_id = int(staff.page.url.split("/cycles/")[1].split("/")[0])
    staff.check("04-staff-cycle-opened")

    # Two residents propose projects.
    for n, (title, cost) in enumerate((("3栋楼道加装扶手", "18000"), ("小区路灯改造", "56000")), start=1):
        resident = phone(base, language)
        resident.login(f"resident-qst01-{n}", TEST_PASSWORD)
        resident.go(f"/cycles/{cycle_id}/propose")
        page = resident.page
        page.fill("#title", title)
        page.fill("#description", "老人上下楼不方便，需要扶手和更亮的灯。")
        page.select_option("#category", "elderly" if n == 1 else "lighting")
        page.fill("#location", f"{n}栋")
        page.fill("#estimated_cost", cost)
        if n == 1:
            resident.check("05-resident-proposes")
        with page.expect_navigation():
            page.locator("form.proposal-form button[type=submit]").click()
        assert "/my/proposals" in page.url
        if n == 1:
            resident.check("06-resident-proposal-sent")
        resident.context.close()

    # Staff stop collecting, put both proposals on the ballot, set the window and the rules, open the vote.
    page = staff.page
    staff.go(f"/cycles/{cycle_id}/manage")
    with page.expect_navigation():
        page.locator("form.phase-form button[type=submit]").click()
    for pid in [proposal.get_attribute("id") for proposal in page.locator("li.proposal").all()]:
        page.locator(f"#{pid} details.review summary").click()
        staff.shot("07-staff-review")
        page.select_option(f"#{pid}-decision", "ballot")
        with page.expect_navigation():
            page.locator(f"#{pid} details.review button[type=submit]").click()
    now = utcnow()
    page.fill("#voting_opens_at", local_minute(now - timedelta(minutes=1)))
    page.fill("#voting_closes_at", local_minute(now + timedelta(days=7)))
    with page.expect_navigation():
        page.locator("#window button[type=submit]").click()
    page.locator("#rules input[name=method][value=approval]").check()
    page.fill("#min_choices", "1")
    page.fill("#max_choices", "2")
    page.locator("#rules input[name=outcome_rule][value=greedy]").check()
    with page.expect_navigation():
        page.locator("#rules button[type=submit]").click()
    staff.check("08-staff-ready-to-open")
    with page.expect_navigation():
        page.locator("form.phase-form button[type=submit]").click()
    assert page.locator(f"a.button.danger[href$='/cycles/{cycle_id}/manage/close']").count() == 1, "the vote did not open"
    staff.check("09-staff-vote-open")

    # A resident votes on the phone, changes the vote and checks the receipt.
    voter = phone(base, language)
    voter.login("resident-qst01-1", TEST_PASSWORD)
    voter.go(f"/c/{place.code}")
    voter.check("10-community-voting")
    page = voter.page
    with page.expect_navigation():
        page.locator(f"a[href='/cycles/{cycle_id}/vote']").first.click()
    voter.check("11-ballot", full=False)
    check_contrast_enhanced(page)
    boxes = page.locator("input[name=projects]")
    assert boxes.count() == 2
    for label in page.locator("label.ballot-choice").all():
        label.click()
    voter.shot("12-ballot-chosen", full=False)
    with page.expect_navigation():
        page.locator("form.ballot button[type=submit]").click()
    voter.check("13-confirm")
    check_contrast_enhanced(page)
    with page.expect_navigation():
        page.locator(f"form[action='/cycles/{cycle_id}/ballot'] button[type=submit]").click()
    first_receipt = page.locator(".receipt-code").inner_text().strip()
    voter.check("14-receipt")
    check_contrast_enhanced(page)
    with page.expect_navigation():
        page.locator(f"a.button[href='/cycles/{cycle_id}/vote']").click()
    page.locator("label.ballot-choice").first.click()  # leave the first project out
    with page.expect_navigation():
        page.locator("form.ballot button[type=submit]").click()
    assert page.locator(".confirm-list li").count() == 1
    with page.expect_navigation():
        page.locator(f"form[action='/cycles/{cycle_id}/ballot'] button[type=submit]").click()
    second_receipt = page.locator(".receipt-code").inner_text().strip()
    assert second_receipt != first_receipt and page.locator(".confirm-list li").count() == 1
    voter.shot("15-receipt-after-change")
    with page.expect_navigation():
        page.locator("a.button[href^='/receipts/']").click()
    assert page.locator(".result.found").count() == 1
    voter.check("16-receipt-check")
    check_contrast_enhanced(page)
    voter.go(f"/receipts/{first_receipt}")
    assert page.locator(".result.superseded").count() == 1
    voter.shot("17-old-receipt-superseded")

    # A second resident votes too.
    other = phone(base, language)
    other.login("resident-qst01-2", TEST_PASSWORD)
    other.go(f"/cycles/{cycle_id}/vote")
    other.page.locator("label.ballot-choice").first.click()
    with other.page.expect_navigation():
        other.page.locator("form.ballot button[type=submit]").click()
    with other.page.expect_navigation():
        other.page.locator(f"form[action='/cycles/{cycle_id}/ballot'] button[type=submit]").click()
    other.context.close()

    # The public list of receipts: the running head at its top, every chain hash wrapped at 360 px.
    voter.go(f"/cycles/{cycle_id}/receipts")
    assert page.locator("#head-checkpoint").inner_text().startswith("python3 verify_record.py RECORD.csv "
                                                                     "--checkpoint 3:")
    assert page.locator("table.board code.hash").count() == 3
    voter.check("17b-receipts-running-head")

    # Staff close the vote early, with a reason.
    page = staff.page
    staff.go(f"/cycles/{cycle_id}/manage")
    with page.expect_navigation():
        page.locator(f"a.button.danger[href$='/cycles/{cycle_id}/manage/close']").click()
    page.fill("textarea[name=reason]", "全体居民已投票，提前结束。")
    page.locator("input[name=confirm]").check()
    staff.shot("18-staff-close-early")
    with page.expect_navigation():
        page.locator("button.danger[type=submit]").click()
    assert page.locator("a.button[href$='/results']").count() == 1

    # The public sees the result.
    public.go(f"/c/{place.code}")
    public.shot("19-community-results")
    public.go(f"/cycles/{cycle_id}/results")
    public.check("20-results")
    assert "全体居民已投票" in public.page.content()
    head = public.page.locator("code.hash").inner_text().strip()
    public.go("/archive")
    public.check("21-archive")

    # An auditor downloads the record and the verifier; the verifier passes.
    auditor = phone(base, language)
    auditor.login("auditor", TEST_PASSWORD)
    auditor.go(f"/audit/cycles/{cycle_id}")
    auditor.check("22-audit-record")
    page = auditor.page
    with page.expect_download() as record:
        page.locator(f"a[href='/audit/cycles/{cycle_id}/record.csv']").click()
    with page.expect_download() as verifier:
        page.locator("a[href='/audit/verify_record.py']").click()
    record_path = tmp_path / record.value.suggested_filename
    record.value.save_as(record_path)
    verifier_path = tmp_path / "verify_record.py"
    verifier.value.save_as(verifier_path)
    run = subprocess.run([sys.executable, "-I", str(verifier_path), str(record_path), "--head", head],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK" in run.stdout
