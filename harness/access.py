"""Looks and access in a real browser: every image has alt text, and every control of a page can be reached with
the keyboard alone (Tab), as a learner who cannot use a mouse reaches it. tests/test_browser_chinese.py checks every
page with it, in the same visit as its check that no English is left."""

IMAGES = "() => [...document.querySelectorAll('[data-testid=stMain] img')].map(i => i.getAttribute('alt') || '')"
# The controls a learner works with: buttons, fields, sliders, checked radios (arrow keys move within a group),
# links; not those inside charts and tables (they have keyboard controls of their own) or the drawing canvas (the
# Draw page's photo upload is its keyboard way in).
# Each control by what it is and where (not by a mark on the element: a redraw of the page makes new elements).
DESCRIBE = """e => [e.tagName, e.closest('[class*=st-key-]')?.className.match(/st-key-[\\w-]+/)?.[0] || '',
  e.closest('h1, h2, h3, h4')?.innerText || '', (e.innerText || e.getAttribute('aria-label') || e.type || '').trim()]
  .join(' | ')"""
CONTROLS = (
    """() => [...document.querySelectorAll(
      '[data-testid=stMain] :is(button, input, textarea, [role=slider], a[href])')]
  .filter(e => e.checkVisibility() && !e.disabled && e.getAttribute('tabindex') !== '-1'
          && !(e.type === 'radio' && !e.checked) && e.type !== 'file' && e.type !== 'range'
          && !e.closest('.js-plotly-plot, [data-testid=stDataFrame], [data-testid=stBidiComponentIsolated]'))
  .map("""
    + DESCRIBE
    + ")"
)
FOCUSABLE = "() => document.querySelectorAll('button, input, textarea, select, a[href], [tabindex]').length"
WATCH = (
    """() => { window.__kbSeen = new Set(); const describe = """
    + DESCRIBE
    + """; document.addEventListener('focusin', e => window.__kbSeen.add(describe(e.composedPath()[0]))); }"""
)


def assert_accessible(page, path: str) -> None:
    """Every image in the page has alt text and Tab reaches every control."""
    missing = [i for i, alt in enumerate(page.evaluate(IMAGES)) if not alt.strip()]
    assert not missing, f"/{path}: images {missing} have no alt text"

    controls = set(page.evaluate(CONTROLS))
    assert controls or path == "", f"/{path}: no controls found"
    page.evaluate(WATCH)
    page.locator("[data-testid=stMain]").focus()  # start where the page's content starts
    # Charts and tables hold focusable parts of their own that Tab passes through too: bound by every one of them.
    for _ in range(page.evaluate(FOCUSABLE) * 2 + 20):
        page.keyboard.press("Tab")
        if controls <= set(page.evaluate("() => [...window.__kbSeen]")):
            break
    unreached = sorted(controls - set(page.evaluate("() => [...window.__kbSeen]")))
    assert not unreached, f"/{path}: Tab never reaches {unreached}"
