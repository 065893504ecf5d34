"""Looks and access in a real browser: every image has alt text, and every control of every page can be reached
with the keyboard alone (Tab), as a learner who cannot use a mouse reaches it."""

import pytest

from conftest import assert_no_exception, goto

pytestmark = pytest.mark.browser

PAGES = ["", "explore", "train", "evaluate", "draw", "my_digits", "inside"]
IMAGES = "() => [...document.querySelectorAll('[data-testid=stMain] img')].map(i => i.getAttribute('alt') || '')"
# The controls a learner works with: buttons, fields, sliders, checked radios (arrow keys move within a group),
# links; not those inside charts and tables (they have keyboard controls of their own) or the drawing canvas (the
# Draw page's photo upload is its keyboard way in).
CONTROLS = """() => [...document.querySelectorAll('[data-testid=stMain] :is(button, input, textarea, [role=slider], a[href])')]
  .filter(e => e.checkVisibility() && !e.disabled && e.getAttribute('tabindex') !== '-1'
          && !(e.type === 'radio' && !e.checked) && e.type !== 'file' && e.type !== 'range'
          && !e.closest('.js-plotly-plot, [data-testid=stDataFrame], [data-testid=stBidiComponentIsolated]'))
  .map((e, i) => { e.dataset.kb = i; return (e.innerText || e.getAttribute('aria-label') || e.type || e.tagName).trim(); })"""
WATCH = """() => { window.__kbSeen = new Set();
  document.addEventListener('focusin', e => { const t = e.composedPath()[0]; if (t.dataset && t.dataset.kb) window.__kbSeen.add(t.dataset.kb); }); }"""


@pytest.mark.parametrize("path", PAGES)
def test_every_image_has_alt_text_and_every_control_is_reached_with_tab(page, server, path):
    goto(page, server, path)
    assert_no_exception(page)
    missing = [i for i, alt in enumerate(page.evaluate(IMAGES)) if not alt.strip()]
    assert not missing, f"/{path}: images {missing} have no alt text"

    controls = page.evaluate(CONTROLS)
    assert controls or path == "", f"/{path}: no controls found"
    page.evaluate(WATCH)
    page.locator("[data-testid=stMain]").focus()  # start where the page's content starts
    for _ in range(len(controls) * 2 + 20):
        page.keyboard.press("Tab")
        if page.evaluate("() => window.__kbSeen.size") == len(controls):
            break
    seen = set(page.evaluate("() => [...window.__kbSeen]"))
    unreached = [label for i, label in enumerate(controls) if str(i) not in seen]
    assert not unreached, f"/{path}: Tab never reaches {unreached}"
