"""The `voting` commands: users add."""
from sqlalchemy import select

from voting.accounts.models import User
from voting.extensions import db


def test_users_add(world, runner):
    result = runner.invoke(args=["users", "add", "--role", "staff", "--username", "s2", "--password", "Abcdefg-12",
                                 "--community", "ca"])
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.username == "s2"))
    assert user.role == "staff" and user.community.code == "ca" and user.password_hash != "Abcdefg-12"


def test_users_add_grid_worker_takes_the_grid_community(world, runner):
    result = runner.invoke(args=["users", "add", "--role", "grid_worker", "--username", "g2",
                                 "--password", "Abcdefg-12", "--grid", "ca-1"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(User).where(User.username == "g2")).community.code == "ca"


def test_users_add_refusals_change_nothing(world, runner):
    before = db.session.scalar(select(db.func.count(User.id)))
    cases = [
        ["--role", "staff", "--username", "x1", "--password", "Abcdefg-12"],  # staff without community
        ["--role", "admin", "--username", "x2", "--password", "Abcdefg-12", "--community", "ca"],
        ["--role", "staff", "--username", "x3", "--password", "Abcdefg-12", "--community", "nope"],
        ["--role", "staff", "--username", "x4", "--password", "short", "--community", "ca"],
        ["--role", "staff", "--username", "staff-ca", "--password", "Abcdefg-12", "--community", "ca"],
        ["--role", "grid_worker", "--username", "x5", "--password", "Abcdefg-12", "--grid", "ca-1", "--community", "cb"],
        ["--role", "resident", "--username", "x6", "--password", "Abcdefg-12", "--community", "ca", "--grid", "ca-1"],
    ]
    for args in cases:
        result = runner.invoke(args=["users", "add", *args])
        assert result.exit_code != 0, args
        assert "Error" in result.output and "Traceback" not in result.output
    assert db.session.scalar(select(db.func.count(User.id))) == before
