"""The Draw page in a real browser: mouse strokes on the canvas, Clear, and photo uploads.

The server's model is the fast CNN trained for 3 epochs on the 4,000-digit sample (~97%), so the
drawn shapes are ones it reads reliably: a plain "1", a "7" and a "0", each at its own place and size.
"""

import io

import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from harness.browser import (
    CANVAS,
    PROMPT,
    WHITE_PIXELS,
    assert_no_exception,
    clear,
    ellipse,
    expect_digit,
    open_draw,
    prediction,
    stroke,
    wait_idle,
)
from ui.server import PHOTO_MB

pytestmark = pytest.mark.browser

TOP_ELEMENT = """([x, y]) => {
  const root = document.querySelector('.st-key-draw_canvas [data-testid=stBidiComponentIsolated]').shadowRoot;
  const hit = root.elementFromPoint(x, y);
  return hit ? String(hit.className) : "";
}"""


def test_drawn_digits_anywhere_and_any_size_are_read_and_clear_resets(page, server, trained_checkpoint):
    open_draw(page, server, trained_checkpoint)
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(prediction(page)).to_have_count(0)
    box = page.locator(CANVAS).bounding_box()
    # Nothing (the canvas's own floating toolbar above all) may cover any part of the drawing area.
    for fx, fy in [(0.995, 0.005), (0.9, 0.02), (0.5, 0.005), (0.005, 0.005), (0.995, 0.5)]:
        x, y = box["x"] + fx * box["width"], box["y"] + fy * box["height"]
        try:
            page.wait_for_function(f"(p) => ({TOP_ELEMENT})(p).includes('upper-canvas')", arg=[x, y], timeout=10_000)
        except PlaywrightTimeout:
            raise AssertionError(f"{page.evaluate(TOP_ELEMENT, [x, y])!r} covers the canvas at ({fx}, {fy})") from None

    # A small "1" high up in the left third.
    stroke(page, box, [(0.22, 0.12), (0.23, 0.3), (0.24, 0.5)])
    expect_digit(page, 1)
    assert page.evaluate(WHITE_PIXELS) > 100
    clear(page)

    # A big "7" whose two strokes both start in the very top-right corner, where the canvas's own
    # toolbar used to swallow the first click.
    stroke(page, box, [(0.97, 0.03), (0.6, 0.04), (0.12, 0.05)])
    stroke(page, box, [(0.97, 0.03), (0.8, 0.45), (0.55, 0.97)])
    expect_digit(page, 7)
    assert page.evaluate(WHITE_PIXELS, [0.97, 0.03]) > 0, "the stroke from the top-right corner was not drawn"
    clear(page)

    # A small "0" in the bottom-right quarter.
    stroke(page, box, ellipse(0.7, 0.7, 0.12, 0.18))
    expect_digit(page, 0)
    expect(page.get_by_text("What the model sees")).to_be_visible()
    wait_idle(page)
    clear(page)

    # An "X" is no digit: the model's best guess (about 50%) comes with a warning that it is unsure.
    box = page.locator(CANVAS).bounding_box()
    stroke(page, box, [(0.2, 0.2), (0.8, 0.8)])
    stroke(page, box, [(0.8, 0.2), (0.2, 0.8)])
    expect(page.get_by_text("The model is unsure")).to_be_visible()
    assert_no_exception(page)


def _mnist_png(sample, checkpoint):
    """A real held-out MNIST digit drawn dark on light paper, 6x larger, that the model reads right."""
    from mnist_core.data.preprocess import load_image
    from mnist_core.insight.inference import predict_image
    from mnist_core.store.checkpoints import load_checkpoint

    model, ckpt = load_checkpoint(checkpoint)
    for image, label in zip(sample.test.images[:200], sample.test.labels[:200]):
        paper = Image.fromarray(255 - image.numpy()).resize((168, 168), Image.BILINEAR)
        buf = io.BytesIO()
        paper.convert("RGB").save(buf, format="PNG")
        pred = predict_image(model, ckpt.config, load_image(buf.getvalue()))
        if pred.digit == int(label) and pred.confidence > 0.9 and int(label) not in (0, 1, 7):
            return buf.getvalue(), int(label), pred
    raise AssertionError("no test digit was read confidently")


def test_uploaded_photos_are_read_and_bad_files_give_a_clear_error(page, server, sample, trained_checkpoint):
    png, label, expected = _mnist_png(sample, trained_checkpoint)
    open_draw(page, server, trained_checkpoint)
    page.locator(".st-key-draw_input").get_by_text("Upload a photo").click()
    wait_idle(page)
    upload = page.locator(".st-key-draw_upload input[type=file]")
    upload.wait_for(state="attached")
    expect(page.get_by_text("Upload a photo of a handwritten digit")).to_be_visible()
    expect(page.locator(".st-key-draw_upload")).to_contain_text(f"{PHOTO_MB}MB per file")

    upload.set_input_files(files=[{"name": "digit.png", "mimeType": "image/png", "buffer": png}])
    expect_digit(page, label)
    expect(page.get_by_text("Your image: digit.png")).to_be_visible()
    # The top three and the probability chart say what the engine says for the same file, the answer's bar
    # marked in its own colour.
    top3 = " · ".join(f"{d} ({p:.1%})" for d, p in expected.top(3))
    expect(page.locator(".st-key-draw_result")).to_contain_text(f"Top three: {top3}")
    chart = page.locator(".st-key-draw_result .js-plotly-plot")
    chart.wait_for()
    page.wait_for_function("(el) => el._fullData && el._fullData[0]", arg=chart.element_handle())
    bars = chart.evaluate("(el) => ({y: Array.from(el._fullData[0].y), c: Array.from(el._fullData[0].marker.color)})")
    assert bars["y"] == pytest.approx([100 * p for p in expected.probabilities], abs=0.01)
    assert [i for i, c in enumerate(bars["c"]) if c != bars["c"][(label + 1) % 10]] == [label]

    upload.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"a shopping list\n"}])
    error = page.locator("[data-testid=stAlertContentError]")
    expect(error).to_contain_text("notes.txt")
    expect(error).to_contain_text("not an image")
    expect(prediction(page)).to_have_count(0)
    assert_no_exception(page)

    upload.set_input_files(files=[{"name": "broken.png", "mimeType": "image/png", "buffer": png[: len(png) // 3]}])
    expect(error).to_contain_text("broken.png")
    expect(prediction(page)).to_have_count(0)
    assert_no_exception(page)

    # Bigger than the page's limit: refused before it reaches the server, with the limit named.
    huge = png + bytes(PHOTO_MB * 2**20)
    upload.set_input_files(files=[{"name": "huge.png", "mimeType": "image/png", "buffer": huge}])
    expect(page.locator(".st-key-draw_upload")).to_contain_text(f"File must be {PHOTO_MB}.0MB or smaller")
    expect(prediction(page)).to_have_count(0)
    assert_no_exception(page)
