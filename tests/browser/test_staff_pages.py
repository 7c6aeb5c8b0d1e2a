"""The pages of staff and grid workers on a phone, in Chinese and English: importing the registry
(with its per-row report), the voting-code sheet, turnout per grid, the door-to-door list and the
printable results notice. axe-core, 360 px and the CSP are checked on each; printing is looked at
with the print stylesheet."""
from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import TEST_PASSWORD
from factories import valid_id_number
from voting.database import utcnow
from voting.extensions import db

from .conftest import needs_chromium
from .scenes import neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]


def registry(tmp_path, rows: list[str]):
    path = tmp_path / "名册.csv"
    path.write_text("姓名,身份证号,电话,网格,地址\n" + "".join(f"{row}\n" for row in rows), encoding="utf-8-sig")
    return path


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_registry_import_and_voting_codes(factory, live_server, phone, tmp_path, language):
    neighbourhood(factory)
    db.session.commit()
    staff = phone(live_server(workers=1), language)
    staff.login("staff-qst01", TEST_PASSWORD)
    staff.go("/c/qst01/residents/import")
    staff.check("40-import")
    page = staff.page

    good = valid_id_number(501)
    bad = registry(tmp_path, [f"王芳,{good},13800000000,qst01-1,5栋101",
                              f"李强,{good[:17]}{'0' if good[17] != '0' else '1'},,qst01-1,5栋102",
                              f"赵敏,{valid_id_number(502)},,xsl01-1,5栋103",
                              f"王芳,{good},,qst01-1,5栋101"])
    page.set_input_files("input[type=file]", str(bad))
    page.locator("form.upload-form button[type=submit]").click()
    report = page.locator(".import-report")
    report.wait_for()
    assert page.locator("td.row-number").all_inner_texts() == ["3", "4", "5"]
    staff.check("41-import-refused")

    fine = registry(tmp_path, [f"王芳,{good},13800000000,qst01-1,5栋101", f"李强,{valid_id_number(503)},,qst01-2,6栋202"])
    page.set_input_files("input[type=file]", str(fine))
    page.locator("form.upload-form button[type=submit]").click()
    apply = page.locator("form[action$='/import/confirm'] button[type=submit]")
    apply.wait_for()  # the preview: nothing written until it is applied
    staff.check("42-import-preview")
    apply.click()
    page.locator(".flash-info").wait_for()
    assert page.url.endswith("/c/qst01/residents/import")
    staff.check("42-import-done-after-preview")

    staff.go("/c/qst01/voting-codes")
    staff.check("43-voting-codes")
    with page.expect_navigation():
        page.locator("form:has(input[name=grid][value='qst01-1']) button[type=submit]").click()
    assert page.locator(".slip").count() == 4  # three residents and 王芳
    staff.check("44-codes-sheet")
    page.emulate_media(media="print")
    staff.shot("45-codes-sheet-print")
    assert page.locator(".top").is_hidden() and page.locator("[data-print]").is_hidden()
    page.emulate_media(media="screen")


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_turnout_doors_and_the_notice(factory, live_server, phone, client, auth, language):
    place = neighbourhood(factory)
    cycle, projects = open_vote(factory, place)
    db.session.commit()
    for username, project in (("resident-qst01-1", projects[0]), ("resident-qst01-4", projects[1])):
        response = client.put(f"/api/v1/cycles/{cycle.id}/ballot", json={"projects": [project.id]},
                              headers=auth.headers(username))
        assert response.status_code == 200
    base = live_server(workers=1)

    worker = phone(base, language)
    worker.login("grid-qst01-1", TEST_PASSWORD)
    worker.go(f"/c/{place.code}")
    with worker.page.expect_navigation():
        worker.page.locator(f"a[href='/cycles/{cycle.id}/doors']").click()
    assert worker.page.locator("li.door").count() == 2
    worker.check("50-doors")

    staff = phone(base, language)
    staff.login("staff-qst01", TEST_PASSWORD)
    staff.go(f"/cycles/{cycle.id}/turnout")
    assert staff.page.locator(".grid-turnout li").count() == 2
    staff.check("51-turnout")

    db.session.rollback()  # end the test's read of SQLite (its snapshot is older than the server's writes)
    cycle.voting_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    public = phone(base, language)
    public.go(f"/cycles/{cycle.id}/results")
    with public.page.expect_navigation():
        public.page.locator(f"a[href='/cycles/{cycle.id}/results/notice']").click()
    assert public.page.locator(".notice-table tbody tr").count() == 4
    public.check("52-notice")
    public.page.emulate_media(media="print")
    public.page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    public.shot("53-notice-print")
