"""`voting demo`: the district of SPEC §5, deterministic by seed."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from voting.app import ROOT
from voting.accounts.models import User
from voting.cycles.models import Cycle
from voting.demo import accounts_file
from voting.extensions import db
from voting.geography.models import Community, Grid, SubDistrict
from voting.proposals.models import Project


@pytest.fixture()
def demo(runner):
    result = runner.invoke(args=["demo", "--password", "Demo-Pass-1", "--residents-per-grid", "2"])
    assert result.exit_code == 0, result.output
    return result.output


def count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_district(demo, client):
    assert (count(SubDistrict), count(Community), count(Grid)) == (5, 45, 232)
    assert count(Project, Project.status.in_(("completed", "accepted"))) == 280
    assert "Demo-Pass-1" in demo and "resident-qst01-1" in demo
    text = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "280" in text and text.count('class="tile"') == 45


def test_demo_money_stays_within_each_fund(demo):
    spent = db.session.execute(
        select(Cycle.id, Cycle.fund_fen, func.sum(Project.cost_fen))
        .join(Project, Project.cycle_id == Cycle.id)
        .where(Project.status.in_(("funded", "in_progress", "completed", "accepted")))
        .group_by(Cycle.id, Cycle.fund_fen)
    ).all()
    # 2019–2021 and last year's cycle in implementation: 45 communities each.
    assert len(spent) == 180 and all(total <= fund for _id, fund, total in spent)


def test_demo_current_cycles_are_voting(demo, client):
    current = db.session.scalars(select(Cycle).where(Cycle.phase == "voting")).all()
    assert len(current) == 45
    for cycle in current:
        on_ballot = count(Project, Project.cycle_id == cycle.id, Project.status == "on_ballot")
        assert 5 <= on_ballot <= 8
    assert client.get(f"/api/v1/cycles/{current[0].id}").get_json()["phase"] == "voting"


def test_demo_accounts(demo, auth, client):
    assert count(User, User.role == "staff") == 45 and count(User, User.role == "grid_worker") == 232
    assert count(User, User.role == "resident") == 464
    assert count(User, User.username.in_(("admin", "auditor"))) == 2
    auth.login("resident-qst01-1", "Demo-Pass-1")
    text = client.get("/c/qst01").get_data(as_text=True)
    assert "resident-qst01-1" in text


def test_demo_refuses_a_loaded_database(demo, runner):
    again = runner.invoke(args=["demo", "--password", "Demo-Pass-1"])
    assert again.exit_code != 0 and "already" in again.output
    assert count(Community) == 45


def test_demo_saves_its_accounts_in_the_apps_instance_folder(demo, runner, app):
    """`make run` shows the saved accounts again (`--if-empty`); the file is the app's own (a test
    app's lies in a temporary folder, not in the checkout's instance/)."""
    saved = accounts_file(app)
    assert saved.parent == Path(app.instance_path) and "Demo-Pass-1" in saved.read_text()
    assert Path(app.instance_path) != ROOT / "instance"
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and again.output.strip() == saved.read_text().strip()


def test_demo_is_deterministic(runner, app):
    from voting.demo import load_demo

    def titles():
        return db.session.scalars(select(Project.title).order_by(Project.id)).all()

    load_demo(db.session, seed=7, password="x-Pass-12", residents_per_grid=1, secret_key="k")
    first = titles()
    db.session.rollback()
    load_demo(db.session, seed=7, password="x-Pass-12", residents_per_grid=1, secret_key="k")
    assert titles() == first
    db.session.rollback()
