"""Guards on outcomes (issue 18): no project is funded without votes in the service's count, a
threshold may be a share of voters, a cycle may set a minimum turnout, and closing the vote early
shows the turnout and what the count would fund before the staff member confirms."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import cast

from voting.audit.models import ActionLogEntry
from voting.database import utcnow
from voting.extensions import db
from voting.results.models import CycleResult

EN = {"Accept-Language": "en"}
VERIFIER = Path(__file__).resolve().parent.parent / "voting" / "audit" / "verify_record.py"


def close(cycle):
    cycle.voting_closes_at = utcnow()  # after every ballot cast so far
    db.session.commit()


def results(client, cycle_id) -> dict:
    response = client.get(f"/api/v1/cycles/{cycle_id}/results", headers=EN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def results_stored() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(CycleResult))


def set_rules(cycle, **rules):
    for name, value in rules.items():
        setattr(cycle, name, value)
    db.session.commit()


# --- no votes, no money ------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["greedy", "greedy-no-skip", "mes", "mes+greedy"])
def test_one_ballot_funds_no_project_without_votes(world, client, auth, rule):
    """The fund (200k) holds all four projects (80k + 60k + 50k + 30k); one resident votes for one."""
    cycle = world.a.cycle
    set_rules(cycle, outcome_rule=rule)
    p1, p2, p3, p4 = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", cycle.id, [p2])
    close(cycle)
    body = results(client, cycle.id)
    assert body["selected"] == [p2]
    by_id = {p["id"]: p for p in body["projects"]}
    for unvoted in (p1, p3, p4):
        assert by_id[unvoted]["selected"] is False and by_id[unvoted]["votes"] == 0
        assert by_id[unvoted]["reason_code"] == "no_votes" and by_id[unvoted]["reason"] == "Not funded: no votes."
    db.session.expire_all()
    assert [p.status for p in world.a.projects] == ["not_funded", "funded", "not_funded", "not_funded"]


def test_closing_early_with_no_ballot_funds_nothing(world, client, auth):
    cycle = world.a.cycle
    response = client.post(f"/api/v1/cycles/{cycle.id}/phase", json={"phase": "results", "reason": "停电"},
                           headers=auth.headers("staff-ca"))
    assert response.status_code == 200, response.get_json()
    body = results(client, cycle.id)
    assert body["ballots_counted"] == 0 and body["selected"] == []
    assert {p["reason_code"] for p in body["projects"]} == {"no_votes"}
    page = client.get(f"/cycles/{cycle.id}/results", headers=EN).get_data(as_text=True)
    assert "Not funded: no votes." in page and "Funded</span>" not in page


def test_the_tally_command_keeps_pabulibs_semantics(runner, tmp_path):
    """`voting tally` on a pabulib file funds a project without votes when it fits, as pabutools does."""
    path = tmp_path / "e.pb"
    path.write_text("META\nkey;value\nnum_projects;2\nnum_votes;1\nbudget;100\nvote_type;approval\nrule;greedy\n"
                    "PROJECTS\nproject_id;cost\n1;50\n2;40\nVOTES\nvoter_id;vote\nv1;1\n", encoding="utf-8")
    counted = runner.invoke(args=["tally", str(path), "--format", "json"])
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.output)["selected"] == ["1", "2"]


# --- the threshold as a share of voters ----------------------------------------------------------------


def test_a_threshold_as_a_share_of_voters(world, client, auth):
    """Three voters, a threshold of 50%: a project needs two of them (1.5 rounded up, exactly)."""
    cycle = world.a.cycle
    p1, p2, p3, p4 = (p.id for p in world.a.projects)
    response = client.put(f"/api/v1/cycles/{cycle.id}/rules", headers=auth.headers("staff-ca"), json={
        "method": "approval", "min_choices": 1, "max_choices": 3, "outcome_rule": "greedy-threshold",
        "threshold_percent": 50})
    assert response.status_code == 409  # voting is open: the rules are frozen
    set_rules(cycle, outcome_rule="greedy-threshold", threshold_percent=50)
    cast(client, auth, "resident-ca-1", cycle.id, [p1, p2])
    cast(client, auth, "resident-ca-2", cycle.id, [p1, p3])
    cast(client, auth, "resident-ca-3", cycle.id, [p2, p4])
    close(cycle)
    body = results(client, cycle.id)
    assert body["selected"] == [p2, p1]
    by_id = {p["id"]: p for p in body["projects"]}
    assert by_id[p3]["reason_code"] == by_id[p4]["reason_code"] == "below_share"
    assert by_id[p3]["reason"] == "Not funded: chosen by 1 of 3 voters, below the threshold of 50% of voters."


# --- the minimum turnout --------------------------------------------------------------------------------


def test_below_the_minimum_turnout_nothing_is_funded(world, client, auth):
    cycle = world.a.cycle
    set_rules(cycle, min_turnout_percent=70)  # 2 of 3 is 66.7%
    p1, p2, *_ = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", cycle.id, [p1])
    cast(client, auth, "resident-ca-2", cycle.id, [p1, p2])
    close(cycle)
    body = results(client, cycle.id)
    assert body["selected"] == [] and body["below_min_turnout"] is True and body["min_turnout_percent"] == 70
    assert {p["reason_code"] for p in body["projects"]} == {"low_turnout"}
    assert {p["id"]: p["votes"] for p in body["projects"]}[p1] == 2  # the votes are still shown
    assert body["projects"][0]["reason"] == ("Not funded: 2 of 3 voted, below the minimum turnout of 70%, "
                                             "so nothing is funded.")
    page = client.get(f"/cycles/{cycle.id}/results", headers=EN).get_data(as_text=True)
    assert "Nothing is funded: the turnout was below the minimum of 70% set in the rules." in page
    notice = client.get(f"/cycles/{cycle.id}/results/notice", headers=EN).get_data(as_text=True)
    assert "the turnout was below the minimum of 70%" in notice
    db.session.expire_all()
    assert {p.status for p in world.a.projects} == {"not_funded"}


def test_at_the_minimum_turnout_the_count_funds(world, client, auth):
    cycle = world.a.cycle
    set_rules(cycle, min_turnout_percent=66)
    p1, p2, *_ = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", cycle.id, [p1])
    cast(client, auth, "resident-ca-2", cycle.id, [p1, p2])
    close(cycle)
    body = results(client, cycle.id)
    assert body["selected"] == [p1, p2] and body["below_min_turnout"] is False
    page = client.get(f"/cycles/{cycle.id}/results", headers=EN).get_data(as_text=True)
    assert "Nothing is funded" not in page


def test_the_rules_form_takes_a_share_and_a_minimum_turnout(world, factory, client, auth):
    world.a.cycle.phase = "closed"
    cycle = factory.cycle(world.a.community, 2027, phase="collection")
    db.session.commit()
    auth.login("staff-ca")
    form = {"method": "approval", "min_choices": "1", "max_choices": "3", "outcome_rule": "greedy-threshold",
            "threshold_percent": "20", "min_turnout_percent": "30", "voters": "adults"}
    assert client.post(f"/cycles/{cycle.id}/manage/rules", data=form).status_code == 302
    db.session.expire_all()
    assert (cycle.threshold_percent, cycle.min_turnout_percent, cycle.threshold) == (20, 30, None)
    refused = client.post(f"/cycles/{cycle.id}/manage/rules", data=form | {"threshold": "5", "min_turnout_percent": ""},
                          headers=EN)
    assert refused.status_code == 422
    assert "not both" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert (cycle.threshold_percent, cycle.min_turnout_percent, cycle.threshold) == (20, 30, None)


# --- the records count as the service did ------------------------------------------------------------------


def _standalone(path: Path) -> subprocess.CompletedProcess:
    folder = path.parent / "alone"
    folder.mkdir(exist_ok=True)
    script = shutil.copy(VERIFIER, folder / "verify_record.py")
    python = ["/usr/bin/python3"] if os.path.exists("/usr/bin/python3") else [sys.executable, "-I", "-S"]
    return subprocess.run([*python, script, str(path)], capture_output=True, text=True, cwd=folder,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, timeout=120)


@pytest.mark.parametrize("rules", [{"min_turnout_percent": 70}, {"outcome_rule": "greedy-threshold",
                                                                  "threshold_percent": 50}, {}])
def test_the_records_verify_with_the_guards(world, client, auth, runner, tmp_path, rules):
    cycle = world.a.cycle
    set_rules(cycle, **rules)
    p1, p2, p3, _p4 = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", cycle.id, [p1, p2])
    cast(client, auth, "resident-ca-2", cycle.id, [p1, p3])
    close(cycle)
    published = results(client, cycle.id)["selected"]
    auth.login("auditor")
    for file_format in ("csv", "json", "pb"):
        response = client.get(f"/audit/cycles/{cycle.id}/record.{file_format}")
        assert response.status_code == 200
        path = tmp_path / f"record.{file_format}"
        path.write_bytes(response.data)
        ours = runner.invoke(args=["verify", str(path)])
        assert ours.exit_code == 0, ours.output
        assert f"funded {', '.join(map(str, published)) or 'nothing'}" in ours.output
        if file_format != "pb":
            alone = _standalone(path)
            assert alone.returncode == 0, alone.stdout + alone.stderr
    tampered = tmp_path / "record.csv"
    text = tampered.read_text(encoding="utf-8-sig")
    assert "unvoted_projects,never_funded" in text
    tampered.write_text(text.replace("unvoted_projects,never_funded", "unvoted_projects,sometimes"),
                        encoding="utf-8")
    assert runner.invoke(args=["verify", str(tampered)]).exit_code == 1


# --- closing early: the preview and the confirmation -------------------------------------------------------


def test_the_close_preview_counts_and_stores_nothing(world, client, auth):
    cycle = world.a.cycle
    set_rules(cycle, min_turnout_percent=50)
    p1, p2, *_ = (p.id for p in world.a.projects)
    cast(client, auth, "resident-ca-1", cycle.id, [p1, p2])
    cast(client, auth, "resident-ca-2", cycle.id, [p2])
    logged = db.session.scalar(select(func.count()).select_from(ActionLogEntry))
    response = client.get(f"/api/v1/cycles/{cycle.id}/close-preview", headers=auth.headers("staff-ca"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["turnout"] == {"voted": 2, "eligible": 3, "percent": 66.7}
    assert body["min_turnout_percent"] == 50 and body["below_min_turnout"] is False
    assert body["would_fund"] == [p2, p1] and body["funds_nothing"] is False and body["cost"] == "140000.00"
    assert {p["reason_code"] for p in body["projects"] if not p["selected"]} == {"no_votes"}
    db.session.expire_all()
    assert results_stored() == 0 and cycle.phase == "voting" and cycle.closed_early_reason is None
    assert {p.status for p in world.a.projects} == {"on_ballot"} and {p.votes for p in world.a.projects} == {None}
    entries = db.session.scalars(select(ActionLogEntry).order_by(ActionLogEntry.id)).all()
    assert len(entries) == logged + 1 and entries[-1].action == "cycle.close_preview"


def test_the_close_preview_says_nothing_will_be_funded_below_the_minimum(world, client, auth):
    cycle = world.a.cycle
    set_rules(cycle, min_turnout_percent=50)
    cast(client, auth, "resident-ca-1", cycle.id, [world.a.projects[0].id])
    body = client.get(f"/api/v1/cycles/{cycle.id}/close-preview", headers=auth.headers("staff-ca")).get_json()
    assert body["below_min_turnout"] is True and body["funds_nothing"] is True and body["would_fund"] == []
    auth.login("staff-ca")
    page = client.get(f"/cycles/{cycle.id}/manage/close", headers=EN)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1 / 3" in text and "at least 50%" in text
    assert "Below the minimum turnout: if you close now, nothing will be funded." in text


@pytest.mark.parametrize("who, status, code", [("staff-cb", 403, None), ("resident-ca-1", 403, None),
                                               ("admin", 403, None), ("auditor", 403, None)])
def test_only_the_communitys_staff_preview_the_close(world, client, auth, who, status, code):
    response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/close-preview", headers=auth.headers(who))
    assert response.status_code == status
    assert results_stored() == 0


def test_no_preview_once_voting_has_closed(world, client, auth):
    close(world.a.cycle)
    response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/close-preview", headers=auth.headers("staff-ca"))
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "voting_not_open"
    assert client.get("/api/v1/cycles/999999/close-preview", headers=auth.headers("staff-ca")).status_code == 404


def test_the_page_closes_early_only_when_confirmed(world, client, auth):
    cycle = world.a.cycle
    p1 = world.a.projects[0].id
    cast(client, auth, "resident-ca-1", cycle.id, [p1])
    auth.login("staff-ca")
    page = client.get(f"/cycles/{cycle.id}/manage/close", headers=EN).get_data(as_text=True)
    assert "What the count would fund now" in page and "Would be funded" in page and "Not funded: no votes." in page
    unconfirmed = client.post(f"/cycles/{cycle.id}/manage/phase", data={"phase": "results", "reason": "台风"},
                              headers=EN)
    assert unconfirmed.status_code == 400
    assert "Confirm that you close the vote now" in unconfirmed.get_data(as_text=True)
    db.session.expire_all()
    assert cycle.phase == "voting" and cycle.closed_early_reason is None and results_stored() == 0
    no_reason = client.post(f"/cycles/{cycle.id}/manage/phase", data={"phase": "results", "confirm": "y"}, headers=EN)
    assert no_reason.status_code == 422 and "Say why voting closes" in no_reason.get_data(as_text=True)
    db.session.expire_all()
    assert cycle.phase == "voting" and results_stored() == 0
    confirmed = client.post(f"/cycles/{cycle.id}/manage/phase",
                            data={"phase": "results", "reason": "台风", "confirm": "y"})
    assert confirmed.status_code == 302
    db.session.expire_all()
    assert cycle.phase == "results" and cycle.closed_early_reason == "台风"
    assert results(client, cycle.id)["selected"] == [p1]


# --- on a live server -------------------------------------------------------------------------------------


def _call(base: str, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Accept-Language": "en"}
                                     | ({"Authorization": f"Bearer {token}"} if token else {}))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.server
def test_on_a_live_server_one_ballot_funds_no_project_without_votes(world, auth, live_server):
    base = live_server(workers=2)
    cycle, (p1, p2, p3, p4) = world.a.cycle, (p.id for p in world.a.projects)
    resident, staff = auth.token("resident-ca-1"), auth.token("staff-ca")
    assert _call(base, "PUT", f"/api/v1/cycles/{cycle.id}/ballot", resident, {"projects": [p3]})[0] == 200
    status, preview = _call(base, "GET", f"/api/v1/cycles/{cycle.id}/close-preview", staff)
    assert status == 200 and preview["would_fund"] == [p3] and preview["turnout"]["voted"] == 1
    status, body = _call(base, "POST", f"/api/v1/cycles/{cycle.id}/phase", staff,
                         {"phase": "results", "reason": "测试提前结束"})
    assert status == 200, body
    status, result = _call(base, "GET", f"/api/v1/cycles/{cycle.id}/results")
    assert status == 200 and result["ballots_counted"] == 1 and result["selected"] == [p3]
    reasons = {p["id"]: p["reason_code"] for p in result["projects"]}
    assert reasons == {p1: "no_votes", p2: "no_votes", p3: "funded", p4: "no_votes"}
    db.session.commit()  # end the test's read transaction: see what the server wrote
    assert results_stored() == 1
