"""Browser tests: Playwright driving Debian's Chromium against a real `voting serve`.

Never downloads a browser: Chromium comes from apt (`.ci/run` installs it). Each test module
marks itself with `needs_chromium`, so it is skipped, saying why, only where Chromium is missing.
Screenshots go to test-artifacts/screenshots/<language>/ (git-ignored).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PHONE = {"width": 390, "height": 844}
NARROW = {"width": 360, "height": 780}
LANGUAGES = {"zh_CN": "zh-CN", "en": "en-GB"}

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"Debian's Chromium is not installed at {CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Phone:
    """One person's phone: a browser context in a language, with helpers to sign in, take
    screenshots and check a page (axe-core, width, the Content-Security-Policy)."""

    base: str
    language: str
    context: object
    page: object
    csp_errors: list = field(default_factory=list)

    def go(self, path: str):
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, (path, response and response.status)
        return response

    def login(self, username: str, password: str) -> None:
        self.go("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():
            self.page.locator("main form button[type=submit]").click()
        assert "/login" not in self.page.url, self.page.url

    def logout(self) -> None:
        self.page.locator("header form button[type=submit]").click()
        self.page.wait_for_load_state()

    def shot(self, name: str, full: bool = True) -> Path:
        """A screenshot of the whole page, or (full=False) of what the screen shows."""
        folder = SHOTS / self.language
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full)
        return path

    def check(self, name: str | None = None, full: bool = True) -> None:
        """Zero serious or critical axe-core violations, no horizontal scrolling at 360 px, no CSP
        violation; with a name, a screenshot too."""
        check_accessible(self.page)
        check_fits(self.page)
        assert not self.csp_errors, self.csp_errors
        if name:
            self.shot(name, full)


def check_accessible(page) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [v for v in results.response["violations"] if v.get("impact") in ("serious", "critical")]
    assert not bad, "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}" for v in bad)


def check_contrast_enhanced(page) -> None:
    """High contrast on the voting pages: WCAG AAA (7:1 for text, 4.5:1 for large text), not just AA."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": ["color-contrast-enhanced"]})
    bad = [(n["target"], n["any"][0]["message"] if n["any"] else "") for v in results.response["violations"]
           for n in v["nodes"]]
    assert not bad, bad


WIDE_JS = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(-5).map(el => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)"""


def check_fits(page) -> None:
    """Usable at 360 px: nothing scrolls sideways."""
    size = page.viewport_size
    page.set_viewport_size(NARROW)
    try:
        widths = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
        if widths[0] > widths[1]:
            wide = page.evaluate(WIDE_JS)
            raise AssertionError(f"{page.url} scrolls sideways at 360 px: {widths}; too wide: {wide}")
    finally:
        page.set_viewport_size(size)


@pytest.fixture()
def phone(chromium):
    """Open a phone (390×844) in a language on a server: `phone(base, "zh_CN")`."""
    contexts = []

    def open_phone(base: str, language: str = "zh_CN", javascript: bool = True, viewport=None) -> Phone:
        context = chromium.new_context(viewport=viewport or PHONE, locale=LANGUAGES[language],
                                       java_script_enabled=javascript, accept_downloads=True,
                                       has_touch=True, is_mobile=False)
        context.add_cookies([{"name": "lang", "value": language, "url": base}])
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        opened = Phone(base, language, context, page)
        page.on("console", lambda message: opened.csp_errors.append(message.text)
                if re.search(r"Content.Security.Policy", message.text) else None)
        return opened

    yield open_phone
    for context in contexts:
        context.close()
