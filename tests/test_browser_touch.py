"""Phones and tablets in a real browser: touch emulation at 390x844 and 820x1180, a digit drawn with a finger and
read, and every page usable at those sizes (nothing wider than the screen, no sideways scrolling)."""

import pytest
from playwright.sync_api import expect

from harness.browser import (
    CANVAS,
    SIDEWAYS,
    STEP_TIMEOUT_MS,
    assert_no_exception,
    expect_digit,
    goto,
    open_draw,
    wait_idle,
)

pytestmark = pytest.mark.browser

SIZES = {"phone": {"width": 390, "height": 844}, "tablet": {"width": 820, "height": 1180}}
PAGES = ["", "learn", "explore", "train", "evaluate", "draw", "my_digits", "inside"]

# Every element that scrolls (the document and Streamlit's own scrolling containers): where each one is.
SCROLLS = """() => [document.scrollingElement, ...document.querySelectorAll('*')]
  .filter(e => e && (e === document.scrollingElement || e.scrollHeight > e.clientHeight + 1))
  .map(e => [e.scrollLeft, e.scrollTop])"""


def touch_page(browser, size: str):
    context = browser.new_context(viewport=SIZES[size], has_touch=True, is_mobile=True, device_scale_factor=2)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context.new_page()


def finger_stroke(page, box, points, steps=6):
    """One stroke with a finger: touchStart, moves, touchEnd, as the browser gets them from a touch screen."""
    cdp = page.context.new_cdp_session(page)
    at = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": at[0][0], "y": at[0][1]}]})
    for (x0, y0), (x1, y1) in zip(at, at[1:]):
        for i in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


@pytest.mark.parametrize("size", SIZES)
def test_a_digit_drawn_with_a_finger_is_read_and_the_page_does_not_scroll(browser, server, trained_checkpoint, size):
    page = touch_page(browser, size)
    try:
        open_draw(page, server, trained_checkpoint)
        canvas = page.locator(CANVAS)
        canvas.scroll_into_view_if_needed()
        wait_idle(page)
        box = canvas.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= SIZES[size]["width"], f"the canvas is off screen: {box}"
        before = page.evaluate(SCROLLS)
        finger_stroke(page, box, [(0.5, 0.1), (0.51, 0.5), (0.52, 0.9)])  # a "1", top to bottom: a scroll gesture
        assert page.evaluate(SCROLLS) == before, "drawing on the canvas scrolled the page"
        expect_digit(page, 1)
        assert_no_exception(page)
    finally:
        page.context.close()


@pytest.mark.parametrize("size", SIZES)
def test_every_page_fits_the_screen(browser, server, size):
    page = touch_page(browser, size)
    try:
        for path in PAGES:
            goto(page, server, path)
            expect(page.locator("[data-testid='stMain'] h1").first).to_be_visible()
            found = page.evaluate(SIDEWAYS)
            assert not found["scrolling"] and not found["outside"], f"/{path} at {size}: {found}"
            assert_no_exception(page)
    finally:
        page.context.close()
