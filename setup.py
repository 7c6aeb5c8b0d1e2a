"""The build hook: a wheel (and a wheel built from the sdist) is the whole release.

The app's templates, static files and migrations live at the top of the repository (where a
checkout and its editable install use them); the message catalogues are kept as .po only. Building
a wheel copies the three folders into the package and compiles the catalogues there, with the same
`pybabel compile` the Makefile runs for development. Everything else is in pyproject.toml.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from babel.messages.frontend import CommandLineInterface
from setuptools import setup
from setuptools.command.build_py import build_py

PACKAGE = "voting"
# Folders at the top of the checkout that the installed package carries inside it (voting/resources.py).
RESOURCES = ("templates", "static", "migrations")


def compile_catalogues(directory: str) -> None:
    """`pybabel -q compile -d DIRECTORY` (the Makefile's `translations`), in this process."""
    CommandLineInterface().run(["pybabel", "-q", "compile", "-d", directory])


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout serves them, compiled by `make translations`
            return
        package = Path(self.build_lib) / PACKAGE
        for name in RESOURCES:
            target = package / name
            shutil.rmtree(target, ignore_errors=True)  # nothing left over from an earlier build
            shutil.copytree(name, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        compile_catalogues(str(package / "translations"))


setup(cmdclass={"build_py": BuildWithResources})
