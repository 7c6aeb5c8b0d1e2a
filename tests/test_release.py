"""The package is the release: the wheel built from the sdist, installed into a fresh venv and run
from outside the checkout, migrates its database and serves the Chinese interface and the static files.

Built offline (`pip wheel --no-deps --no-build-isolation` with this venv's setuptools and Babel, the
build's requirements in pyproject.toml), so the test needs no network. The fresh venv has no pip and
no packages of its own: the wheel is installed into it without its dependencies, which it finds in
this venv's site-packages through a .pth file (a plain path: the editable install's own .pth files
there are not read, so `voting` can only come from the wheel).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
# Not part of a release, or made by building, testing or running the checkout.
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "instance", "test-artifacts",
                                    ".pytest_cache", ".hypothesis", "*.egg-info", "__pycache__", "*.py[co]",
                                    "*.mo", "*.sqlite3")
# The home page in the default language (no Accept-Language), and the site's style sheet.
SERVE_TWO_PAGES = """
from voting.app import create_app
client = create_app().test_client()
home, css = client.get("/"), client.get("/static/css/site.css")
assert css.data, "empty style sheet"
print(home.status_code, f"{css.status_code} {css.content_type}", home.get_data(as_text=True), sep="\\n")
"""
TITLE = "石峰区惠民实事票决"  # "Shifeng livelihood fund votes", the title of every page


def _version(name: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in metadata.version(name).split(".")[:2])
    except metadata.PackageNotFoundError:
        return ()


def _cannot_build_offline() -> str | None:
    """Why the wheel cannot be built without the network, if it cannot (the build's requirements
    are not in this venv: `make install-test` installs them)."""
    if _version("setuptools") < (80, 9):
        return f"setuptools>=80.9 is not installed (found {metadata.version('setuptools')})"
    if not _version("babel"):
        return "Babel is not installed"
    return None


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result


def _build_wheel(tmp_path: Path) -> Path:
    """sdist from a copy of the checkout (nothing is written into the checkout), then the wheel
    from the unpacked sdist, as `python -m build` does."""
    source = tmp_path / "source"
    shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE)
    build_sdist = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    _run([sys.executable, "-c", build_sdist, str(tmp_path / "sdist")], cwd=source)
    (sdist,) = (tmp_path / "sdist").glob("voting-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python 3.11.4 and later
        archive.extractall(tmp_path / "unpacked", **safe)
    assert not [name for name in names if name.endswith(".mo")], "the sdist carries sources only"
    assert any(name.endswith("zh_Hans_CN/LC_MESSAGES/messages.po") for name in names)
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
          "-w", str(tmp_path / "dist"), str(unpacked)], cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("voting-*.whl")
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    site_packages = _run([python, "-c", purelib]).stdout.strip()
    (Path(site_packages) / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
          str(wheel)])
    return venv


def test_the_installed_wheel_serves_the_chinese_interface(tmp_path):
    reason = _cannot_build_offline()
    if reason:
        pytest.skip(f"the wheel cannot be built offline here: {reason}")
    wheel = _build_wheel(tmp_path)

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "voting/translations/zh_Hans_CN/LC_MESSAGES/messages.mo" in names
    assert {"voting/templates/base.html", "voting/static/css/site.css", "voting/migrations/env.py"} <= names
    migrations = {path.name for path in (CHECKOUT / "migrations" / "versions").glob("*.py")}
    assert {name.rsplit("/", 1)[1] for name in names
            if name.startswith("voting/migrations/versions/") and name.endswith(".py")} == migrations

    venv = _fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "host"  # outside the checkout, with only the deployment's settings
    elsewhere.mkdir()
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8",
           "VOTING_INSTANCE_PATH": str(elsewhere / "instance"),
           "VOTING_DATABASE_URL": f"sqlite:///{elsewhere / 'voting.sqlite3'}"}
    python = venv / "bin" / "python"
    found = _run([python, "-c", "import voting; print(voting.__file__)"], cwd=elsewhere, env=env)
    assert found.stdout.startswith(str(venv)), found.stdout
    _run([venv / "bin" / "voting", "init-db"], cwd=elsewhere, env=env)

    # The pages through the installed app (`voting serve` runs it under gunicorn: the live_server tests).
    served = _run([python, "-c", SERVE_TWO_PAGES], cwd=elsewhere, env=env).stdout
    home_status, css_status, home = served.split("\n", 2)
    assert f"<title>{TITLE}</title>" in home
    assert (home_status, css_status) == ("200", "200 text/css; charset=utf-8")
    assert (elsewhere / "instance" / "secret_key").exists()  # the instance folder is the one configured
