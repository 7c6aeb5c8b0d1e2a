"""Keeping the registry current: a file is matched by ID number; the preview (page or `--dry-run`)
lists who is new, changed, moving in or moved away and writes nothing; applying is all or nothing
and logged (never an ID number); `moved`/`deceased` from the page and the command line."""
from __future__ import annotations

import io
import re

import base64

import pytest
from flask import current_app
from sqlalchemy import inspect, select

from factories import valid_id_number
from voting.audit.models import ActionLogEntry
from voting.extensions import db
from voting.residents.models import Resident, ResidentHistory
from voting.residents.services import hash_id_number, id_check_char

HEADING = "name,id_number,phone,grid,address\n"


@pytest.fixture(autouse=True)
def english(client):
    client.set_cookie("lang", "en")


def snapshot() -> dict:
    """Every row of every table (the action log included): a preview must leave it as it was."""
    db.session.commit()
    return {name: sorted(map(tuple, db.session.execute(table.select()).all()), key=repr)
            for name, table in db.metadata.tables.items()}


def csv(*rows: str) -> bytes:
    return (HEADING + "".join(row + "\n" for row in rows)).encode("utf-8-sig")


def write(tmp_path, content: bytes, name="registry.csv") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def person(serial: int) -> Resident:
    """The registered resident with the test ID number `serial` (hashed with the app's key)."""
    db.session.expire_all()
    key = current_app.config["SECRET_KEY"]
    return db.session.scalar(select(Resident).where(Resident.id_hash == hash_id_number(key, valid_id_number(serial))))


def logged(action: str) -> list[ActionLogEntry]:
    db.session.commit()
    return db.session.scalars(select(ActionLogEntry).where(ActionLogEntry.action == action)
                              .order_by(ActionLogEntry.seq)).all()


@pytest.fixture()
def registered(world, runner, tmp_path):
    """ca's registry as a file: the world's residents marked moved, then 张三 and 李四 of ca-1."""
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                               f"李四,{valid_id_number(502)},,ca-1,2栋202"), "first.csv")
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 0, result.output
    return world


def test_the_dry_run_lists_every_kind_of_change_and_writes_nothing(registered, runner, tmp_path):
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13900000000,ca-1,1栋102",   # changed
                               f"王五,{valid_id_number(503)},,ca-1,3栋303"))              # new; 李四 not listed
    before = snapshot()
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "1 new, 1 changed, 0 moving in, 1 not in the file, 0 unchanged" in result.output
    assert "new        row 3: 王五" in result.output
    assert "address 1栋101 -> 1栋102" in result.output and "phone 13800000000 -> 13900000000" in result.output
    assert "not in the file 李四" in result.output and "nothing written" in result.output
    assert valid_id_number(501) not in result.output
    assert snapshot() == before


def test_residents_not_in_the_file_stay_unless_marked_moved(registered, runner, tmp_path):
    """A file of newcomers leaves everyone else as they are; --mark-moved marks those it omits."""
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                               f"王五,{valid_id_number(503)},,ca-1,3栋303"))
    result = runner.invoke(args=["import-residents", path, "--community", "ca"])
    assert result.exit_code == 0, result.output
    assert "stay as they are" in result.output and "imported 1 new, 0 changed, 0 moved in, 0 marked moved away" \
        in result.output
    assert person(502).status == "active"
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert "1 marked moved away" in result.output
    db.session.expire_all()
    assert person(502).status == "moved"


def test_an_update_is_applied_and_logged_without_id_numbers(registered, runner, tmp_path):
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13900000000,ca-2x,1栋102",
                               f"王五,{valid_id_number(503)},,ca-1,3栋303"))
    assert runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"]).output.count("row") == 1
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13900000000,ca-1,1栋102",
                               f"王五,{valid_id_number(503)},,ca-1,3栋303"))
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 0, result.output
    assert "imported 1 new, 1 changed, 0 moved in, 1 marked moved away" in result.output
    zhang, li = person(501), person(502)
    assert zhang.address == "1栋102" and zhang.phone == "13900000000" and zhang.status == "active"
    assert li.status == "moved"  # not deleted
    assert person(503).status == "active"
    # the household follows the address, the old one kept in the history
    assert db.session.scalar(select(ResidentHistory).where(ResidentHistory.resident_id == zhang.id)) is not None
    entry = logged("residents.import")[-1]
    assert entry.actor.startswith("command line: ") and '"new":1' in entry.detail and '"moved_away":1' in entry.detail
    changes = [e.detail for e in logged("residents.changed")] + [e.detail for e in logged("residents.moved")]
    assert any(f'"resident":{zhang.id}' in d and "address" in d for d in changes)
    assert any(f'"resident":{li.id}' in d for d in changes)
    every = " ".join(e.detail for e in db.session.scalars(select(ActionLogEntry)))
    assert all(valid_id_number(n) not in every for n in (501, 502, 503)) and "1栋102" not in every


def test_the_same_id_number_twice_is_refused_naming_both_rows(registered, runner, tmp_path):
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},,ca-1,1栋101", f"王五,{valid_id_number(503)},,ca-1,3栋",
                               f"张三二,{valid_id_number(501)},,ca-1,1栋101"))
    before = snapshot()
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 1 and "row 4: the same ID number is on row 2" in result.output
    assert snapshot() == before


def test_a_resident_living_in_another_community_is_refused(registered, runner, tmp_path):
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},,cb-1,1栋101"))
    before = snapshot()
    result = runner.invoke(args=["import-residents", path, "--community", "cb", "--mark-moved"])
    assert result.exit_code == 1 and "row 2: this resident lives in ca社区" in result.output
    assert "mark them as moved first" in result.output and snapshot() == before


def test_a_resident_marked_moved_elsewhere_moves_in(registered, runner, tmp_path):
    zhang = person(501)
    assert runner.invoke(args=["residents", "set-status", "--community", "ca", "--id-number", valid_id_number(501),
                               "--status", "moved"]).exit_code == 0
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},,cb-1,新家1栋"))
    preview = runner.invoke(args=["import-residents", path, "--community", "cb", "--dry-run"])
    assert "moving in  row 2: 张三 (from ca社区)" in preview.output
    result = runner.invoke(args=["import-residents", path, "--community", "cb", "--mark-moved"])
    assert result.exit_code == 0, result.output
    moved = person(501)
    assert moved.id == zhang.id and moved.community.code == "cb" and moved.grid.code == "cb-1"
    assert moved.status == "active" and moved.address == "新家1栋"
    assert logged("residents.moving_in")[-1].detail.count("ca社区") == 1


def test_a_deceased_resident_in_the_file_is_refused(registered, runner, tmp_path):
    assert runner.invoke(args=["residents", "set-status", "--community", "ca", "--id-number", valid_id_number(502),
                               "--status", "deceased"]).exit_code == 0
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                               f"李四,{valid_id_number(502)},,ca-1,2栋202"))
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--mark-moved"])
    assert result.exit_code == 1 and "row 3: this resident is marked deceased" in result.output


def test_a_returning_resident_is_active_again(registered, runner, tmp_path):
    runner.invoke(args=["residents", "set-status", "--community", "ca", "--id-number", valid_id_number(502),
                        "--status", "moved"])
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                               f"李四,{valid_id_number(502)},,ca-1,2栋202"))
    result = runner.invoke(args=["import-residents", path, "--community", "ca"])
    assert result.exit_code == 0 and "returning  row 3: 李四" in result.output
    assert person(502).status == "active"


def test_an_id_number_hashed_under_an_earlier_key_is_matched_and_rehashed(registered, runner, tmp_path, app):
    old_key = app.config["SECRET_KEY"]
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    app.config["SECRET_KEY"] = "a-new-key-after-a-rotation"
    try:
        path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                                   f"李四,{valid_id_number(502)},,ca-1,2栋202"))
        result = runner.invoke(args=["import-residents", path, "--community", "ca"])
        assert result.exit_code == 0 and "0 new" in result.output and "2 unchanged" in result.output
        db.session.expire_all()
        assert db.session.scalar(select(Resident).where(Resident.id_hash == hash_id_number(
            "a-new-key-after-a-rotation", valid_id_number(501)))) is not None
    finally:
        app.config["SECRET_KEY"], app.config["SECRET_KEY_FALLBACKS"] = old_key, []


def test_a_minor_is_registered_with_the_day_they_turn_18(registered, runner, tmp_path):
    first17 = "43020420150607123"
    number = first17 + id_check_char(first17)
    path = write(tmp_path, csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101",
                               f"李四,{valid_id_number(502)},,ca-1,2栋202", f"小明,{number},,ca-1,2栋202"))
    assert runner.invoke(args=["import-residents", path, "--community", "ca"]).exit_code == 0
    db.session.expire_all()
    child = db.session.scalar(select(Resident).where(Resident.name == "小明"))
    assert str(child.adult_on) == "2033-06-07" and person(501).adult_on is None
    bad17 = "43020420151399123"  # month 13
    path = write(tmp_path, csv(f"错日,{bad17 + id_check_char(bad17)},,ca-1,1栋"))
    result = runner.invoke(args=["import-residents", path, "--community", "ca", "--dry-run"])
    assert result.exit_code == 1 and "birth date" in result.output


# --- the page: preview, then confirm ------------------------------------------------------------

def upload(client, content: bytes, name="registry.csv"):
    return client.post("/c/ca/residents/import", data={"registry": (io.BytesIO(content), name)},
                       content_type="multipart/form-data")


def confirm_fields(preview) -> dict:
    page = preview.get_data(as_text=True)
    return dict(re.findall(r'<input[^>]*name="(\w+)"[^>]*value="([^"]*)"', page))


def test_the_page_previews_without_writing_then_applies_what_was_previewed(registered, client, auth):
    auth.login("staff-ca")
    content = csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101", f"王五,{valid_id_number(503)},,ca-1,3栋")
    before = snapshot()
    preview = upload(client, content)
    text = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Nothing has been written yet" in text
    assert "王五" in text and "李四" in text and "New residents: 1" in text and "Not in the file: 1" in text
    assert snapshot() == before
    fields = confirm_fields(preview)
    assert fields.pop("mark_moved") == "y"  # the box that marks 李四 moved away, not ticked by default
    assert 'name="mark_moved" type="checkbox" value="y">' in text
    applied = client.post("/c/ca/residents/import/confirm", data=fields | {"mark_moved": "y"})
    assert applied.status_code == 302
    assert person(503).status == "active" and person(502).status == "moved"
    assert logged("residents.import")[-1].actor == "staff-ca"


def test_the_page_leaves_residents_not_in_the_file_unless_ticked(registered, client, auth):
    auth.login("staff-ca")
    preview = upload(client, csv(f"王五,{valid_id_number(503)},,ca-1,3栋"))
    fields = {k: v for k, v in confirm_fields(preview).items() if k != "mark_moved"}
    assert client.post("/c/ca/residents/import/confirm", data=fields).status_code == 302
    assert person(503).status == "active" and person(501).status == person(502).status == "active"


def test_a_confirm_for_another_file_or_a_changed_registry_writes_nothing(registered, client, auth):
    auth.login("staff-ca")
    content = csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101", f"王五,{valid_id_number(503)},,ca-1,3栋")
    fields = confirm_fields(upload(client, content))
    other = csv(f"张三,{valid_id_number(501)},13800000000,ca-1,1栋101", f"赵六,{valid_id_number(504)},,ca-1,4栋")
    before = snapshot()
    forged = client.post("/c/ca/residents/import/confirm",
                         data=fields | {"file_data": base64.b64encode(other).decode()})
    assert forged.status_code == 409 and "changed since the preview" in forged.get_data(as_text=True)
    assert snapshot() == before
    # the registry changes between the preview and the confirm: the plan differs, refused
    person(501).phone = "13700000000"
    db.session.commit()
    before = snapshot()
    assert client.post("/c/ca/residents/import/confirm", data=fields).status_code == 409
    assert snapshot() == before
    # another staff member cannot use this preview
    auth.logout()
    auth.login("admin")
    assert client.post("/c/ca/residents/import/confirm", data=fields).status_code == 409


def test_an_apply_that_fails_halfway_writes_nothing(registered, client, auth, monkeypatch):
    from voting.residents import services as registry

    auth.login("staff-ca")
    content = csv(f"张三,{valid_id_number(501)},13900000000,ca-1,1栋101", f"王五,{valid_id_number(503)},,ca-1,3栋")
    fields = confirm_fields(upload(client, content))
    before = snapshot()

    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full")
    monkeypatch.setattr(registry, "log_actions", broken)  # after every resident was written and flushed
    response = client.post("/c/ca/residents/import/confirm", data=fields)
    assert response.status_code == 500
    assert snapshot() == before


# --- moved / deceased ---------------------------------------------------------------------------

def test_staff_mark_a_resident_moved_on_the_registry_page(world, client, auth):
    auth.login("staff-ca")
    resident = world.a.residents[0].resident
    page = client.get("/c/ca/residents?q=" + resident.name).get_data(as_text=True)
    assert resident.name in page and f"/c/ca/residents/{resident.id}/status" in page
    assert client.post(f"/c/ca/residents/{resident.id}/status", data={"status": "deceased"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Resident, resident.id).status == "deceased"
    entry = logged("residents.status")[-1]
    assert entry.actor == "staff-ca" and '"status":"deceased"' in entry.detail
    # the same status again, an unknown status, a resident of another community: refused, nothing written
    before = snapshot()
    assert client.post(f"/c/ca/residents/{resident.id}/status", data={"status": "deceased"}).status_code == 409
    assert client.post(f"/c/ca/residents/{resident.id}/status", data={"status": "gone"}).status_code == 400
    other = world.b.residents[0].resident_id
    assert client.post(f"/c/ca/residents/{other}/status", data={"status": "moved"}).status_code == 404
    assert snapshot() == before


def test_the_command_line_sets_a_status_and_refuses_bad_input(registered, runner):
    before = snapshot()
    for args, message in ((["--id-number", "123"], "17 digits"),
                          (["--id-number", valid_id_number(599)], "No resident"),
                          (["--id-number", valid_id_number(501), "--community", "cb"], "No resident")):
        community = [] if "--community" in args else ["--community", "ca"]
        result = runner.invoke(args=["residents", "set-status", *community, *args, "--status", "moved"])
        assert result.exit_code == 1 and message in result.output, result.output
    assert snapshot() == before
    result = runner.invoke(args=["residents", "set-status", "--community", "ca", "--id-number", valid_id_number(501),
                                 "--status", "moved"])
    assert result.exit_code == 0 and person(501).status == "moved"
    assert logged("residents.status")[-1].actor.startswith("command line: ")
    assert inspect(person(501)).persistent
