"""Staff pages of the resident registry: importing a CSV or XLSX file (all rows or none, every bad
row named on the page) and printing residents' personal voting codes (new codes, shown once, logged)."""
from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from factories import valid_id_number
from voting.audit.models import ActionLogEntry
from voting.extensions import db
from voting.format import qr_svg
from voting.residents.models import Resident

ACTORS = {
    "anonymous": None, "resident": "resident-ca-1", "resident_other": "resident-cb-1",
    "grid": "grid-ca-1", "grid_other": "grid-cb-1", "staff": "staff-ca", "staff_other": "staff-cb",
    "admin": "admin", "auditor": "auditor",
}
HEADING = "name,id_number,phone,grid,address\n"
CODE = re.compile(r"\b\d{4} \d{4} \d{4}\b")


def good_csv(serial: int = 901) -> bytes:
    return (HEADING + f"张三,{valid_id_number(serial)},13800000000,ca-1,1栋101\n"
            f"李四,{valid_id_number(serial + 1)},,ca-1,2栋202\n").encode("utf-8-sig")


#                          anonymous resident res_other grid grid_other staff staff_other admin auditor
ROUTES = {
    "import page": ("GET", "/c/ca/residents/import", None, (302, 403, 403, 403, 403, 200, 403, 200, 403)),
    "import preview": ("POST", "/c/ca/residents/import", "file", (302, 403, 403, 403, 403, 200, 403, 200, 403)),
    "import confirm": ("POST", "/c/ca/residents/import/confirm", {"file_data": "eA==", "token": "forged"},
                       (302, 403, 403, 403, 403, 400, 403, 400, 403)),
    "registry page": ("GET", "/c/ca/residents", None, (302, 403, 403, 403, 403, 200, 403, 403, 403)),
    "set status": ("POST", "/c/ca/residents/1/status", {"status": "moved"},
                   (302, 403, 403, 403, 403, 302, 403, 403, 403)),
    "codes page": ("GET", "/c/ca/voting-codes", None, (302, 403, 403, 403, 403, 200, 403, 403, 403)),
    "print codes": ("POST", "/c/ca/voting-codes", {"grid": "ca-1"}, (302, 403, 403, 403, 403, 200, 403, 403, 403)),
}


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def residents() -> int:
    db.session.commit()
    return db.session.scalar(select(func.count(Resident.id)))


def logged(action: str) -> list[ActionLogEntry]:
    db.session.commit()
    return db.session.scalars(select(ActionLogEntry).where(ActionLogEntry.action == action)).all()


def upload(client, content: bytes, name: str = "registry.csv"):
    return client.post("/c/ca/residents/import", data={"registry": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def statuses() -> dict[int, str]:
    db.session.commit()
    return dict(db.session.execute(select(Resident.id, Resident.status)).all())


def confirm(client, preview):
    """Post the preview page's confirm form back, as the browser would."""
    page = preview.get_data(as_text=True)
    fields = dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page))
    assert {"file_data", "token"} <= set(fields), page[:500]
    return client.post(re.search(r'action="([^"]*/import/confirm)"', page).group(1), data=fields)


def import_file(client, content: bytes, name: str = "registry.csv"):
    """Upload, look at the preview, confirm."""
    preview = upload(client, content, name)
    assert preview.status_code == 200, preview.get_data(as_text=True)[:500]
    return confirm(client, preview)


def code_hashes() -> dict[int, str | None]:
    db.session.commit()
    return dict(db.session.execute(select(Resident.id, Resident.voting_code_hash)).all())


@pytest.mark.parametrize("actor", list(ACTORS))
@pytest.mark.parametrize("name", list(ROUTES))
def test_who_may(world, client, auth, name, actor):
    method, path, body, expected = ROUTES[name]
    if ACTORS[actor]:
        auth.login(ACTORS[actor])
    count, hashes, before_statuses = residents(), code_hashes(), statuses()
    if body == "file":
        response = upload(client, good_csv())
    else:
        response = client.open(path, method=method, data=body)
    status = expected[list(ACTORS).index(actor)]
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    if method == "POST" and (status != expected[5] or name.startswith("import")):  # refused or previewed
        assert residents() == count and code_hashes() == hashes and statuses() == before_statuses


def test_import_a_csv(world, client, auth):
    auth.login("staff-ca")
    before = residents()
    response = import_file(client, good_csv())
    assert response.status_code == 302
    assert residents() == before + 2
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 new, 0 changed, 0 moved in, 3 marked as moved away" in page
    entry = logged("residents.import")[-1]
    assert entry.actor == "staff-ca" and entry.community == "ca" and "registry.csv" in entry.detail


def test_import_an_xlsx_with_chinese_headings(world, client, auth):
    book = Workbook()
    book.active.append(["姓名", "身份证号", "电话", "网格", "地址"])
    book.active.append(["赵六", valid_id_number(904), "13900000000", "ca-1", "4栋"])
    buffer = io.BytesIO()
    book.save(buffer)
    auth.login("admin")
    before = residents()
    assert import_file(client, buffer.getvalue(), "名册.xlsx").status_code == 302
    assert residents() == before + 1


def test_every_bad_row_is_named_and_nothing_is_imported(world, client, auth):
    good = valid_id_number(905)
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    content = (HEADING
               + f"好人,{valid_id_number(906)},,ca-1,1栋\n"     # row 2: fine
               + f"坏号,{bad_check},,ca-1,1栋\n"                # row 3: check digit
               + f"错网格,{valid_id_number(907)},,cb-1,1栋\n"   # row 4: a grid of another community
               + f"重复,{valid_id_number(906)},,ca-1,1栋\n"     # row 5: the same ID as row 2
               + f",{valid_id_number(908)},,ca-1,\n").encode()  # row 6: no name, no address
    auth.login("staff-ca")
    before = residents()
    response = upload(client, content)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert residents() == before and logged("residents.import") == []
    numbers = re.findall(r'<td class="row-number">(\d+)</td>', text)
    assert set(numbers) == {"3", "4", "5", "6"} and len(numbers) == 5  # row 6 has two problems
    assert "check digit" in text and "cb-1" in text and "row 2" in text and "name is empty" in text


@pytest.mark.parametrize("content, name, status, message", [
    (b"who,what\n1,2\n", "registry.csv", 422, "The first row must name the columns"),
    (b"not a workbook", "registry.xlsx", 422, "not a readable .xlsx"),
    (b"name\n", "registry.txt", 422, "must be .csv or .xlsx"),
    (b"", "registry.csv", 422, "The file is empty"),
    (HEADING.encode(), "registry.csv", 422, "the file has no residents"),
])
def test_a_file_that_cannot_be_read_changes_nothing(world, client, auth, content, name, status, message):
    auth.login("staff-ca")
    before = residents()
    response = upload(client, content, name)
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert residents() == before


def test_line_breaks_and_nul_in_cells_become_spaces(world, client, auth):
    auth.login("staff-ca")
    content = HEADING.encode() + f"张\x00三,{valid_id_number(911)},,ca-1,\"1栋\n2单元\"\n".encode()
    assert import_file(client, content).status_code == 302
    stored = db.session.scalar(select(Resident).where(Resident.name == "张 三"))
    assert stored is not None and stored.address == "1栋 2单元"


def test_no_file_is_asked_for_again(world, client, auth):
    auth.login("staff-ca")
    response = client.post("/c/ca/residents/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose the registry file first" in response.get_data(as_text=True)


def test_print_codes_issues_new_codes_shown_once(world, client, auth):
    a = world.a
    auth.login("staff-ca")
    page = client.get("/c/ca/voting-codes").get_data(as_text=True)
    assert "Printing issues new codes" in page and "3 without" in page
    response = client.post("/c/ca/voting-codes", data={"grid": "ca-1"})
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    codes = CODE.findall(text)
    assert len(codes) == 3 and len(set(codes)) == 3
    assert text.count('<svg class="qr"') == 3
    hashes = code_hashes()
    people = [u.resident for u in a.residents]
    for person in people:
        assert person.name in text and person.address in text
        assert hashes[person.id] and not any(code.replace(" ", "") in hashes[person.id] for code in codes)
    assert all(any(check_password_hash(hashes[p.id], c.replace(" ", "")) for c in codes) for p in people)
    for code in codes:  # each QR code holds the code's digits, not an address
        assert str(qr_svg(code.replace(" ", ""))) in text
    entry = logged("residents.voting_codes")[-1]
    assert entry.actor == "staff-ca" and '"issued":3' in entry.detail.replace(" ", "")

    # Printing again issues nothing: everyone has a code.
    again = client.post("/c/ca/voting-codes", data={"grid": "ca-1"}).get_data(as_text=True)
    assert CODE.findall(again) == [] and code_hashes() == hashes


def test_a_lost_slip_gets_a_new_code_and_the_old_one_stops_working(world, client, auth):
    person = world.a.residents[0].resident
    auth.login("staff-ca")
    first = CODE.findall(client.post("/c/ca/voting-codes", data={"grid": "ca-1"}).get_data(as_text=True))
    found = client.get("/c/ca/voting-codes?grid=ca-1&q=" + person.name).get_data(as_text=True)
    assert f'name="resident" value="{person.id}"' in found
    text = client.post("/c/ca/voting-codes", data={"grid": "ca-1", "resident": str(person.id)}).get_data(as_text=True)
    [new] = CODE.findall(text)
    stored = code_hashes()[person.id]
    assert check_password_hash(stored, new.replace(" ", ""))
    assert not any(check_password_hash(stored, old.replace(" ", "")) for old in first)


@pytest.mark.parametrize("data, status", [
    ({"grid": "cb-1"}, 404),                 # a grid of another community
    ({"grid": "nope"}, 404),                 # no such grid
    ({"grid": "ca-1", "resident": "{other}"}, 404),  # a resident of another grid
    ({"grid": "ca-1", "resident": "abc"}, 303),      # not a number
    ({}, 303),                               # no grid
])
def test_bad_print_requests_change_nothing(world, client, auth, data, status):
    auth.login("staff-ca")
    other = world.b.residents[0].resident.id
    hashes = code_hashes()
    response = client.post("/c/ca/voting-codes", data={k: v.format(other=other) for k, v in data.items()})
    assert response.status_code == status
    assert code_hashes() == hashes and logged("residents.voting_codes") == []
