"""The access rules' module stays low in the import graph, and the value enums build the CHECK
constraints the migrations created."""
import ast
from pathlib import Path

from sqlalchemy import CheckConstraint

import voting
from voting.accounts.models import User
from voting.ballots.models import RollEntry
from voting.cycles.models import Cycle
from voting.enums import Channel, Phase, ProjectStatus, Role
from voting.proposals.models import Project


def test_policy_imports_no_services_nor_models():
    tree = ast.parse((Path(voting.__file__).parent / "accounts" / "policy.py").read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert imported <= {"database", "enums", "errors"}


def _check(table, name: str) -> str:
    return next(str(c.sqltext) for c in table.constraints
                if isinstance(c, CheckConstraint) and c.name == f"ck_{table.name}_{name}")


def test_check_constraints_list_the_enums():
    assert _check(User.__table__, "role") == "role IN ('resident', 'grid_worker', 'staff', 'admin', 'auditor')"
    assert _check(Cycle.__table__, "phase") == (
        "phase IN ('collection', 'review', 'voting', 'results', 'implementation', 'closed')")
    assert _check(RollEntry.__table__, "channel") == "channel IS NULL OR channel IN ('online', 'assisted', 'paper')"
    assert _check(Project.__table__, "status") == "status IN ({})".format(
        ", ".join(f"'{s.value}'" for s in ProjectStatus))
    assert [*Role, *Phase, *Channel] == [
        "resident", "grid_worker", "staff", "admin", "auditor",
        "collection", "review", "voting", "results", "implementation", "closed", "online", "assisted", "paper"]
