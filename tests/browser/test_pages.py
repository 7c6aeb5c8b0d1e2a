"""Elderly-friendly by default: the larger-text toggle works without JavaScript, the vote page's
buttons and links are big enough to tap, and nothing scrolls sideways at 360 px in either size."""
from __future__ import annotations

import pytest

from conftest import TEST_PASSWORD
from voting.extensions import db

from .conftest import check_contrast_enhanced, needs_chromium
from .scenes import neighbourhood, open_vote

pytestmark = [needs_chromium, pytest.mark.server]

# Every visible control's tap target (a control inside a label counts with its label), except links
# inside a sentence (WCAG 2.5.8's inline exception) and what is visually hidden.
TARGETS_JS = """() => {
  const small = [];
  for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || el.closest('[hidden]')) continue;
    const target = el.closest('label') || el;
    const box = target.getBoundingClientRect();
    if (box.right <= 0 || box.bottom <= 0 || box.width === 0) continue;  // off screen (the skip link)
    const parent = el.parentElement;
    if (el.tagName === 'A' && parent && ['P', 'LI', 'SPAN', 'TD'].includes(parent.tagName)) {
      const rest = parent.textContent.replace(el.textContent, '').replace(/[\\s·›|]/g, '');
      if (rest.length > 0) continue;  // a link in running text
    }
    if (box.height < 44 || box.width < 44) {
      small.push(`${el.tagName} "${(el.textContent || el.name || '').trim().slice(0, 30)}" ${Math.round(box.width)}x${Math.round(box.height)}`);
    }
  }
  return small;
}"""


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_larger_text_is_one_tap_and_needs_no_javascript(factory, live_server, phone, language):
    place = neighbourhood(factory)
    cycle, _projects = open_vote(factory, place)
    db.session.commit()
    base = live_server(workers=1)
    # Without JavaScript: one tap, remembered in a cookie, back on the same page; and back again.
    reader = phone(base, language, javascript=False)
    reader.login("resident-qst01-1", TEST_PASSWORD)
    reader.go(f"/cycles/{cycle.id}/vote")
    page = reader.page
    html = page.locator("html")
    assert html.get_attribute("class") is None
    with page.expect_navigation():
        page.locator("a.text-size").click()
    assert f"/cycles/{cycle.id}/vote" in page.url and html.get_attribute("class") == "large"
    assert {c["name"]: c["value"] for c in reader.context.cookies()}.get("text") == "large"
    reader.go(f"/c/{place.code}")  # remembered on every page
    assert html.get_attribute("class") == "large"
    with page.expect_navigation():
        page.locator("a.text-size").click()
    assert html.get_attribute("class") is None
    assert "text" not in {c["name"] for c in reader.context.cookies()}

    # What it looks like: bigger type, still big targets, still nothing sideways at 360 px.
    viewer = phone(base, language)
    viewer.login("resident-qst01-1", TEST_PASSWORD)
    viewer.go(f"/cycles/{cycle.id}/vote")
    size = "() => parseFloat(getComputedStyle(document.documentElement).fontSize)"
    normal = viewer.page.evaluate(size)
    viewer.context.add_cookies([{"name": "text", "value": "large", "url": base}])
    viewer.go(f"/cycles/{cycle.id}/vote")
    assert viewer.page.evaluate(size) >= normal * 1.2
    viewer.check("30-ballot-larger-text", full=False)
    assert viewer.page.evaluate(TARGETS_JS) == []
    viewer.go(f"/c/{place.code}")
    viewer.check("31-community-larger-text")


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_the_vote_page_has_big_targets(factory, live_server, phone, language):
    place = neighbourhood(factory)
    cycle, _projects = open_vote(factory, place)
    db.session.commit()
    voter = phone(live_server(workers=1), language)
    voter.login("resident-qst01-1", TEST_PASSWORD)
    voter.go(f"/cycles/{cycle.id}/vote")
    assert voter.page.evaluate(TARGETS_JS) == []
    check_contrast_enhanced(voter.page)
    voter.page.set_viewport_size({"width": 360, "height": 780})
    assert voter.page.evaluate(TARGETS_JS) == []
    voter.shot("32-ballot-360", full=False)
