"""The Inside page in a real browser: a digit drawn on Draw, opened with "Look inside", shows its preprocessing
steps, the feature maps and the heatmaps; Evaluate's mistakes open there too; a non-image upload is refused."""

import pytest
from playwright.sync_api import expect

from harness.browser import CANVAS, assert_no_exception, expect_digit, goto, open_draw, pick_dataset, stroke, wait_idle

pytestmark = pytest.mark.browser

DRAWN = """([key, n]) => [...document.querySelectorAll(`.st-key-${key} img`)]
  .filter(img => img.complete && img.naturalWidth > 0).length >= n"""


def expect_pictures(page, key: str, at_least: int) -> None:
    """The section with this key shows at least this many images, loaded and drawn."""
    page.locator(f".st-key-{key}").wait_for()
    page.wait_for_function(DRAWN, arg=[key, at_least])


def test_a_drawing_opened_from_draw_shows_steps_feature_maps_and_heatmaps(page, server, trained_checkpoint):
    open_draw(page, server, trained_checkpoint)
    box = page.locator(CANVAS).bounding_box()
    stroke(page, box, [(0.97, 0.03), (0.6, 0.04), (0.12, 0.05)])  # the "7" the Draw tests read
    stroke(page, box, [(0.97, 0.03), (0.8, 0.45), (0.55, 0.97)])
    expect_digit(page, 7)
    page.get_by_role("link", name="Look inside").click()
    wait_idle(page)
    assert "/inside" in page.url
    assert_no_exception(page)
    expect_pictures(page, "inside_steps", 5)  # input, ink cropped, shrunk, centred + the naive resize
    expect(page.locator(".st-key-inside_steps")).to_contain_text("Squashed to 28×28 without these steps")
    expect_pictures(page, "inside_layers", 4)  # the filters and the three convolution layers' maps
    expect(page.locator(".st-key-inside_layers")).to_contain_text("detectors of simple strokes")
    expect_pictures(page, "inside_attribution", 6)  # three digits x two methods
    expect(page.locator(".st-key-inside_attribution")).to_contain_text("7 (")
    expect(page.locator(".st-key-inside_play [data-testid=stMetricValue]")).to_have_text("7")
    expect(page.locator(".st-key-inside_robustness")).to_contain_text("Measure 1 model on")


def test_a_mistake_in_evaluate_opens_inside(page, server):
    goto(page, server, "evaluate")
    pick_dataset(page, "MNIST sample (5,000 real digits, works offline)")
    link = page.locator(".st-key-eval_gallery").get_by_role("link", name="Look inside").first
    link.wait_for(timeout=120_000)
    caption = page.locator(".st-key-eval_gallery [data-testid='stImageCaption']").first.inner_text()
    link.click()
    wait_idle(page)
    assert "/inside" in page.url
    assert_no_exception(page)
    true_class = caption.split()[1]  # "true 4 → 9 · 96%"
    expect(page.get_by_text(f"This image is labelled {true_class}.")).to_be_visible()
    expect(page.locator(".st-key-inside_steps")).to_have_count(0)  # already a 28x28 MNIST image
    expect_pictures(page, "inside_attribution", 6)


def test_a_file_that_is_not_an_image_gets_the_same_message_as_on_draw(page, server):
    goto(page, server, "inside")
    page.locator(".st-key-inside_input").get_by_text("Upload a photo").click()
    wait_idle(page)
    upload = page.locator(".st-key-inside_upload input[type=file]")
    upload.wait_for(state="attached")
    upload.set_input_files(files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"a shopping list\n"}])
    error = page.locator("[data-testid=stAlertContentError]")
    expect(error).to_contain_text("notes.txt")
    expect(error).to_contain_text("not an image")
    assert_no_exception(page)
