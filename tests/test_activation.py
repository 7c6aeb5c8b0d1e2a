"""Residents activate their own account: the personal voting code and the ID number's last six
(`POST /api/v1/auth/activate`, the `/activate` page), a lost password replaced with a new code,
`voting issue-codes` and `voting users add --id-number`."""
from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime

import pytest
from conftest import TEST_PASSWORD
from factories import valid_id_number
from sqlalchemy import func, select

from voting.app import create_app
from voting.accounts.models import ApiToken, User
from voting.audit.models import ActionLogEntry
from voting.ballots.codes import normalise_voting_code
from voting.residents.issuing import issue_voting_code
from voting.config import limiter_storage_uri, secret_keys
from voting.extensions import db, limiter
from voting.residents.models import Resident
from voting.residents.registry_file import read_registry
from voting.database import utcnow
from voting.residents.services import apply_import, hash_id_number, plan_import

NEW_PASSWORD = "Huiming-2026"
BEFORE_THE_VOTE = datetime(2020, 1, 1)


class Registered:
    """Residents imported into community ca's registry (their ID numbers known here), each with a code."""

    def __init__(self, world, app, serials=(301, 302)):
        self.world = world
        lines = ["name,id_number,phone,grid,address"]
        lines += [f"登记{s},{valid_id_number(s)},,ca-1,{s}栋" for s in serials]  # not a factory's 居民N
        rows = read_registry("\n".join(lines).encode(), "registry.csv")
        keys = secret_keys(app.config)
        plan = plan_import(db.session, world.a.community, rows, keys, utcnow())
        plan.moved_away = []  # the file lists only the newcomers: the world's residents stay as they are
        apply_import(db.session, None, plan, keys, utcnow())
        self.people = {}
        for serial in serials:
            resident = db.session.scalar(select(Resident).where(
                Resident.id_hash == hash_id_number(app.config["SECRET_KEY"], valid_id_number(serial))))
            resident.created_at = resident.facts_since = BEFORE_THE_VOTE  # in the open vote's electorate
            self.people[serial] = {"id": resident.id, "number": valid_id_number(serial),
                                   "code": issue_voting_code(db.session, resident)}
        db.session.commit()

    def body(self, serial=301, **changes) -> dict:
        person = self.people[serial]
        return {"voting_code": person["code"], "id_last6": person["number"][-6:], "username": f"jumin{serial}",
                "password": NEW_PASSWORD} | changes

    def resident(self, serial=301) -> Resident:
        db.session.expire_all()
        return db.session.get(Resident, self.people[serial]["id"])


@pytest.fixture()
def registered(world, app):
    return Registered(world, app)


def activate(client, body, address="127.0.0.1"):
    return client.post("/api/v1/auth/activate", json=body, environ_base={"REMOTE_ADDR": address})


def state() -> dict:
    """Everything activation may change: accounts, tokens, the registry's codes, the action log."""
    db.session.expire_all()
    return {"users": sorted(db.session.execute(select(User.id, User.username, User.password_hash,
                                                      User.session_version)).all()),
            "tokens": db.session.scalar(select(func.count(ApiToken.id))),
            "codes": sorted(db.session.execute(select(Resident.id, Resident.voting_code_hash,
                                                      Resident.used_code_hash)).all()),
            "log": db.session.scalar(select(func.count(ActionLogEntry.id)))}


# --- activation through the API, then the real sign-in ---------------------------------------------

def test_activation_creates_the_resident_account_that_signs_in_and_votes(client, registered, world):
    response = activate(client, registered.body())
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["username"] == "jumin301"
    token = client.post("/api/v1/auth/token", json={"username": "jumin301", "password": NEW_PASSWORD})
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
    me = client.get("/api/v1/me", headers=headers).get_json()
    assert me["role"] == "resident" and me["community"]["code"] == "ca"
    user = db.session.scalar(select(User).where(User.username == "jumin301"))
    assert user.resident_id == registered.people[301]["id"] and user.password_hash.startswith("scrypt:")
    ballot = client.put(f"/api/v1/cycles/{world.a.cycle.id}/ballot", headers=headers,
                        json={"projects": [world.a.projects[0].id]})
    assert ballot.status_code == 200, ballot.get_json()
    entry = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "accounts.activate"))
    assert entry.actor == "jumin301" and entry.community == "ca"


def test_the_code_is_used_up_and_answers_already_activated_only_to_whoever_has_both(client, registered):
    assert activate(client, registered.body()).status_code == 201
    resident = registered.resident()
    assert resident.voting_code_hash is None and resident.used_code_hash  # it confirms no assisted ballot either
    again = activate(client, registered.body(username="someone-else"))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_activated"
    assert "jumin301" in again.get_json()["error"]["message"]
    # The used code with wrong ID digits: the answer to any wrong guess, no hint that the code exists.
    wrong = activate(client, registered.body(id_last6="000000"))
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "activation_failed"
    assert db.session.scalar(select(func.count(User.id)).where(User.username == "someone-else")) == 0


def test_a_wrong_code_and_wrong_digits_get_the_same_answer_and_change_nothing(client, registered):
    before = state()
    person = registered.people[301]
    other = registered.people[302]
    answers = [
        activate(client, registered.body(voting_code="1111 2222 3333")),
        activate(client, registered.body(id_last6="99999X")),
        activate(client, registered.body(id_last6=other["number"][-6:])),  # another resident's digits
        activate(client, registered.body(voting_code=other["code"])),  # another resident's code
    ]
    assert {(a.status_code, a.get_json()["error"]["code"], a.get_json()["error"]["message"]) for a in answers} \
        == {(401, "activation_failed", answers[0].get_json()["error"]["message"])}
    assert state() == before
    assert person["code"]  # and the right pair still works afterwards
    assert activate(client, registered.body()).status_code == 201


@pytest.mark.parametrize("changes, status, code", [
    ({"voting_code": "1" * 10_000}, 422, "too_long"),
    ({"id_last6": "1" * 10_000}, 422, "too_long"),
    ({"username": "u" * 10_000}, 422, "too_long"),
    ({"password": "a1" * 5_000}, 422, "too_long"),
    ({"voting_code": "1234 5678"}, 422, "bad_voting_code"),
    ({"voting_code": "1234 5678 90ab"}, 422, "bad_voting_code"),
    ({"id_last6": "12345"}, 422, "bad_id_last6"),
    ({"id_last6": "X12345"}, 422, "bad_id_last6"),
    ({"username": "two words"}, 422, "bad_username"),
    ({"username": "tab\there"}, 422, "bad_username"),
    ({"password": "short1"}, 422, "weak_password"),
    ({"password": "onlyletters"}, 422, "weak_password"),
    ({"username": "resident-ca-1"}, 422, "username_taken"),
    ({"community": "cb"}, 422, "wrong_community"),
    ({"community": 7}, 422, "not_text"),
    ({"password": None}, 422, "missing_password"),
    ({"voting_code": ["1"]}, 422, "not_text"),
])
def test_bad_input_is_refused_clearly_and_changes_nothing(client, registered, changes, status, code):
    before = state()
    response = activate(client, registered.body(**changes))
    assert (response.status_code, response.get_json()["error"]["code"]) == (status, code), response.get_json()
    assert response.get_json()["error"]["message"]
    assert state() == before
    assert activate(client, registered.body()).status_code == 201  # the code still works


def test_a_body_that_is_not_json_is_refused(client, registered):
    before = state()
    response = client.post("/api/v1/auth/activate", data="voting_code=1", content_type="text/plain")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "malformed_json"
    assert state() == before


def test_digits_as_typed_on_a_phone_are_accepted(client, app, world):
    """Full-width digits and a lower-case x in the ID digits; dashes and spaces in the code."""
    serial = next(s for s in range(400, 999) if valid_id_number(s).endswith("X"))
    people = Registered(world, app, serials=(serial,))
    number, code = people.people[serial]["number"], people.people[serial]["code"]
    typed = "".join(chr(ord(c) + 0xFEE0) for c in number[-6:-1]) + "x"
    body = people.body(serial, voting_code=normalise_voting_code(code)[:6] + "-" + normalise_voting_code(code)[6:],
                       id_last6=typed)
    assert activate(client, body).status_code == 201


def test_a_resident_who_moved_away_cannot_activate(client, registered):
    registered.resident().status = "moved"
    db.session.commit()
    before = state()
    response = activate(client, registered.body())
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "not_registered"
    assert state() == before


def test_residents_registered_before_the_id_digits_were_kept_cannot_activate(client, registered):
    """No ID digits in the registry (imported before migration 0009): the answer to a wrong guess."""
    registered.resident().id_last6_hash = None
    db.session.commit()
    assert activate(client, registered.body()).get_json()["error"]["code"] == "activation_failed"


def test_residents_sharing_a_code_tag_are_told_apart_by_their_digits_and_their_code(client, registered):
    first, second = registered.resident(301), registered.resident(302)
    second.voting_code_tag = first.voting_code_tag  # the tag has 16 bits: in a district, a few share each
    db.session.commit()
    mixed = activate(client, registered.body(301, id_last6=registered.people[302]["number"][-6:]))
    assert mixed.status_code == 401
    assert activate(client, registered.body(301)).status_code == 201
    assert registered.resident(302).voting_code_hash is not None  # the other resident's code is untouched


def test_a_code_of_a_rotated_key_still_activates(world, database_url, registered):
    """Imported and issued under the old key; the server now has a new key and keeps the old as a fallback."""
    rotated = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": False,
                          "SECRET_KEY": "a-new-key", "SECRET_KEY_FALLBACKS": [os.environ["VOTING_SECRET_KEY"]]})
    with rotated.app_context():
        response = rotated.test_client().post("/api/v1/auth/activate", json=registered.body())
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 201, response.get_json()


def test_a_server_with_another_key_finds_no_code(world, database_url, registered):
    other = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": False,
                        "SECRET_KEY": "another-key"})
    with other.app_context():
        response = other.test_client().post("/api/v1/auth/activate", json=registered.body())
        db.session.remove()
        db.engine.dispose()
    assert response.status_code == 401


# --- a lost password: staff issue a new code, the resident activates again ---------------------------

def test_a_new_code_replaces_the_lost_password_and_ends_the_old_sessions(client, auth, registered, world):
    assert activate(client, registered.body()).status_code == 201
    old_token = auth.token("jumin301", NEW_PASSWORD)
    staff = world.a.staff.username
    auth.login(staff)
    sheet = client.post("/c/ca/voting-codes", data={"grid": "ca-1", "resident": str(registered.people[301]["id"])})
    assert sheet.status_code == 200
    auth.logout()
    new_code = _codes_on_sheet(sheet.get_data(as_text=True))[0]
    before = db.session.scalar(select(User.session_version).where(User.username == "jumin301"))
    response = activate(client, registered.body(voting_code=new_code, password="Another-Pass-3"))
    assert response.status_code == 200 and response.get_json() == {"username": "jumin301", "replaced": True}
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {old_token}"}).status_code == 401
    assert client.post("/api/v1/auth/token", json={"username": "jumin301", "password": NEW_PASSWORD}
                       ).status_code == 401
    assert auth.token("jumin301", "Another-Pass-3")
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "jumin301"))
    assert user.session_version == before + 1
    assert db.session.scalar(select(func.count(User.id)).where(User.resident_id == user.resident_id)) == 1
    log = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "accounts.reactivate"))
    assert log.actor == "jumin301" and json.loads(log.detail) == {"resident": user.resident_id}


def test_a_new_code_may_give_the_account_a_new_username_but_not_a_taken_one(client, app, registered):
    assert activate(client, registered.body()).status_code == 201
    with app.app_context():
        code = issue_voting_code(db.session, db.session.get(Resident, registered.people[301]["id"]))
        db.session.commit()
    before = state()
    taken = activate(client, registered.body(voting_code=code, username="resident-ca-1"))
    assert taken.status_code == 422 and taken.get_json()["error"]["code"] == "username_taken"
    assert state() == before
    renamed = activate(client, registered.body(voting_code=code, username="zhang-new"))
    assert renamed.get_json() == {"username": "zhang-new", "replaced": True}
    log = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "accounts.reactivate"))
    assert json.loads(log.detail)["renamed_from"] == "jumin301"


def test_a_disabled_account_is_not_enabled_again_by_a_new_code(client, app, registered):
    assert activate(client, registered.body()).status_code == 201
    resident = registered.resident()
    db.session.scalar(select(User).where(User.username == "jumin301")).is_enabled = False
    code = issue_voting_code(db.session, resident)
    db.session.commit()
    before = state()
    response = activate(client, registered.body(voting_code=code))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "account_disabled"
    assert state() == before


def _codes_on_sheet(html: str) -> list[str]:
    import re

    return re.findall(r'class="slip-code" translate="no">([\d ]+)<', html)


def test_the_slip_says_how_to_activate(client, auth, registered, world):
    client.set_cookie("lang", "en")
    auth.login(world.a.staff.username)
    sheet = client.post("/c/ca/voting-codes", data={"grid": "ca-1", "resident": str(registered.people[302]["id"])})
    text = sheet.get_data(as_text=True)
    assert "open http://localhost/activate and type this code and the last six characters of your ID number" in text


# --- the page -----------------------------------------------------------------------------------------

def test_the_page_activates_signs_in_and_lands_on_the_community(client, registered, world):
    page = client.get("/activate?community=ca")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'inputmode="numeric"' in html and 'autocomplete="one-time-code"' in html
    assert 'name="community" type="hidden" value="ca"' in html
    form = registered.body() | {"confirm": NEW_PASSWORD, "community": "ca"}
    response = client.post("/activate", data=form)
    assert response.status_code == 302 and response.headers["Location"].endswith("/c/ca")
    assert client.get(f"/cycles/{world.a.cycle.id}/vote").status_code == 200  # signed in as the resident
    assert "jumin301" in client.get("/c/ca").get_data(as_text=True)


def test_the_page_shows_each_refusal_next_to_its_field(client, registered):
    client.set_cookie("lang", "en")
    before = state()
    cases = [({"id_last6": "000000"}, 401, 'role="alert">The voting code and the last six'),
             ({"password": "short1"}, 422, 'id="password-error">A password needs at least 8'),
             ({"voting_code": "12"}, 422, 'id="voting_code-error">A personal voting code has 12 digits'),
             ({"confirm": "Different-1"}, 400, 'id="confirm-error">The two passwords differ.'),
             ({"username": "resident-ca-1"}, 422, 'id="username-error">The username')]
    for changes, status, words in cases:
        form = registered.body() | changes
        response = client.post("/activate", data={"confirm": form["password"]} | form)
        assert response.status_code == status, (changes, response.get_data(as_text=True)[:2000])
        assert words in response.get_data(as_text=True), changes
    assert state() == before


def test_a_signed_in_worker_cannot_activate_on_their_session(client, auth, registered, world):
    """A grid worker's phone: the page asks to sign out first and does nothing with the worker's session."""
    client.set_cookie("lang", "en")
    auth.login(world.a.worker.username)
    page = client.get("/activate").get_data(as_text=True)
    assert f"You are signed in as {world.a.worker.username}. Sign out first" in page
    assert 'name="voting_code"' not in page
    before = state()
    response = client.post("/activate", data=registered.body() | {"confirm": NEW_PASSWORD})
    assert response.status_code == 409
    assert state() == before
    auth.logout()
    assert client.post("/activate", data=registered.body() | {"confirm": NEW_PASSWORD}).status_code == 302


def test_the_community_page_invites_residents_to_activate(client, world):
    assert "/activate?community=ca" in client.get("/c/ca").get_data(as_text=True)


# --- rate limits ---------------------------------------------------------------------------------------

@pytest.fixture()
def limited(database_url, registered):
    """Limits on, counted in the database (the default without Redis)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": limiter_storage_uri(database_url)})
    limiter.reset()
    yield app.test_client()
    limiter.reset()
    limiter.storage.dispose()
    with app.app_context():
        db.engine.dispose()


def test_guessing_the_digits_of_a_found_slip_is_limited(limited, registered):
    statuses = [activate(limited, registered.body(id_last6=f"{n:05d}0")).status_code for n in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    # The slip's right digits now wait too; another code (from the same address) does not.
    assert activate(limited, registered.body()).status_code == 429
    assert activate(limited, registered.body(302)).status_code == 201


def test_a_guesser_elsewhere_does_not_stop_the_slips_holder_until_the_codes_slower_limit(limited, registered):
    limited.application.config.update(ACTIVATION_FAILURES_PER_CODE_AND_ADDRESS="3 per 15 minutes",
                                      ACTIVATION_FAILURES_PER_CODE="5 per hour")  # 10 and 60 in service
    assert [activate(limited, registered.body(id_last6=f"{n:05d}0"), "10.0.0.1").status_code
            for n in range(4)] == [401] * 3 + [429]
    assert activate(limited, registered.body(), "10.0.0.2").status_code == 201  # the holder, elsewhere
    # Guesses at the code from more addresses reach its slower limit: then every address waits.
    assert [activate(limited, registered.body(id_last6="999990"), "10.0.0.3").status_code
            for _ in range(3)] == [401, 401, 429]
    assert activate(limited, registered.body(password="Another-Pass-2"), "10.0.0.4").status_code == 429


def test_guessing_codes_from_one_address_is_limited(limited, registered):
    statuses = [activate(limited, registered.body(voting_code=f"5555 6666 {n:04d}")).status_code for n in range(22)]
    assert statuses[:20] == [401] * 20 and statuses[20:] == [429, 429]
    assert activate(limited, registered.body()).status_code == 429


def test_bad_formats_and_successes_do_not_count(limited, registered):
    statuses = {activate(limited, registered.body(password="short1")).status_code for _ in range(25)}
    assert statuses == {422}
    assert activate(limited, registered.body()).status_code == 201


# --- voting issue-codes ---------------------------------------------------------------------------------

def test_issue_codes_writes_the_csv_and_keeps_only_hashes(runner, client, registered, world, tmp_path):
    registered.resident(302).name = "=HYPERLINK(1)"
    db.session.commit()
    target = tmp_path / "codes.csv"
    result = runner.invoke(args=["issue-codes", "--community", "ca", "--output", str(target)])
    assert result.exit_code == 0, result.output
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with the BOM
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["name", "grid", "address", "voting_code"]
    active = db.session.scalar(select(func.count(Resident.id)).where(Resident.community_id == world.a.community.id))
    assert len(rows) == 1 + active
    by_name = {row[0]: row for row in rows[1:]}
    assert "'=HYPERLINK(1)" in by_name  # the spreadsheet guard
    code = by_name["登记301"][3]
    assert len(normalise_voting_code(code)) == 12
    db.session.expire_all()
    stored = db.session.scalars(select(Resident.voting_code_hash).where(Resident.community_id == world.a.community.id))
    assert all(h and h.startswith("scrypt:") and normalise_voting_code(code) not in h for h in stored)
    assert activate(client, registered.body(voting_code=code)).status_code == 201
    assert activate(client, registered.body(302)).status_code == 401  # the earlier code stopped working
    entry = db.session.scalar(select(ActionLogEntry).where(ActionLogEntry.action == "residents.issue_codes"))
    assert entry.role == "command_line" and entry.actor.startswith("command line: ") and entry.actor_id is None
    assert json.loads(entry.detail) == {"issued": active} and entry.community == "ca"


def test_issue_codes_for_one_grid_and_only_new(runner, factory, registered, world, tmp_path):
    grid2 = factory.grid(world.a.community, 2)
    factory.resident(world.a.community, grid2, "resident-ca-9")
    db.session.commit()
    target = tmp_path / "grid2.csv"
    assert runner.invoke(args=["issue-codes", "--community", "ca", "--grid", "ca-2", "--output", str(target)]
                         ).exit_code == 0
    assert [row[1] for row in csv.reader(io.StringIO(target.read_text("utf-8-sig")))][1:] == ["ca-2"]
    only_new = tmp_path / "new.csv"
    result = runner.invoke(args=["issue-codes", "--community", "ca", "--only-new", "--output", str(only_new)])
    assert result.exit_code == 0, result.output
    names = {row[0] for row in list(csv.reader(io.StringIO(only_new.read_text("utf-8-sig"))))[1:]}
    assert names and not names & {"登记301", "登记302"}  # they hold codes already


@pytest.mark.parametrize("args, message", [
    (["--community", "nope"], "nope"),
    (["--community", "ca", "--grid", "cb-1"], "cb-1"),
    (["--community", "ca", "--output-exists"], "exists"),
    (["--community", "ca", "--no-folder"], "folder"),
])
def test_issue_codes_refusals_write_and_change_nothing(runner, registered, tmp_path, args, message):
    target = tmp_path / "codes.csv"
    if "--output-exists" in args:
        target.write_text("keep me")
        args = [a for a in args if a != "--output-exists"]
    if "--no-folder" in args:
        target = tmp_path / "missing" / "codes.csv"
        args = [a for a in args if a != "--no-folder"]
    before = state()
    result = runner.invoke(args=["issue-codes", *args, "--output", str(target)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert state() == before
    assert not target.exists() or target.read_text() == "keep me"
    assert [p.name for p in tmp_path.rglob("*.part")] == []


def test_issue_codes_replaces_a_file_only_with_force(runner, registered, tmp_path):
    target = tmp_path / "codes.csv"
    target.write_text("old")
    result = runner.invoke(args=["issue-codes", "--community", "ca", "--output", str(target), "--force"])
    assert result.exit_code == 0 and target.read_text("utf-8-sig").startswith("name,grid,address,voting_code")


# --- voting users add --id-number ----------------------------------------------------------------------

def test_users_add_links_a_resident_account_to_the_registry(runner, client, registered):
    number = registered.people[301]["number"]
    result = runner.invoke(args=["users", "add", "--role", "resident", "--username", "zhang", "--password",
                                 TEST_PASSWORD, "--id-number", number])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "zhang"))
    assert user.resident_id == registered.people[301]["id"] and user.community.code == "ca"
    # The resident has an account now: the slip's code replaces its password instead of making another.
    assert activate(client, registered.body()).get_json() == {"username": "jumin301", "replaced": True}


@pytest.mark.parametrize("extra", [
    [],  # no ID number
    ["--id-number", valid_id_number(777)],  # not registered
    ["--id-number", "430204197001010000"],  # a bad check digit
    ["--id-number", "{301}", "--community", "cb"],  # registered in ca
    ["--id-number", "{taken}"],  # already has an account
])
def test_users_add_resident_refusals_change_nothing(runner, app, registered, extra):
    runner.invoke(args=["users", "add", "--role", "resident", "--username", "first", "--password", TEST_PASSWORD,
                        "--id-number", registered.people[302]["number"]])
    extra = [value.replace("{301}", registered.people[301]["number"]).replace("{taken}", registered.people[302]["number"])
             for value in extra]
    before = state()
    result = runner.invoke(args=["users", "add", "--role", "resident", "--username", "second", "--password",
                                 TEST_PASSWORD, *extra])
    assert result.exit_code != 0 and "Error" in result.output and "Traceback" not in result.output, result.output
    assert state() == before


def test_users_add_refuses_an_id_number_for_another_role(runner, registered):
    result = runner.invoke(args=["users", "add", "--role", "staff", "--username", "s9", "--password", TEST_PASSWORD,
                                 "--community", "ca", "--id-number", registered.people[301]["number"]])
    assert result.exit_code != 0 and db.session.scalar(select(User).where(User.username == "s9")) is None
