"""Where the app finds its templates, static files, migrations and instance folder.

A wheel carries `templates/`, `static/` and `migrations/` inside the package (setup.py copies them
there when it builds); a checkout, and its editable install, keeps them at the top of the
repository. The instance folder (the generated secret key, the default SQLite database) is
`VOTING_INSTANCE_PATH` when set; otherwise `instance/` of the checkout, or for an installed package
Flask's place for one, `<prefix>/var/voting-instance`.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CHECKOUT = PACKAGE.parent


def resource_dir(name: str) -> Path:
    """The folder `name` (templates, static, migrations): the package's copy in an installed wheel,
    else the checkout's."""
    packaged = PACKAGE / name
    return packaged if packaged.is_dir() else CHECKOUT / name


def instance_dir(environ=os.environ) -> Path:
    if environ.get("VOTING_INSTANCE_PATH"):
        return Path(environ["VOTING_INSTANCE_PATH"]).resolve()
    if (PACKAGE / "templates").is_dir():  # installed from a wheel
        return Path(sys.prefix) / "var" / "voting-instance"
    return CHECKOUT / "instance"
