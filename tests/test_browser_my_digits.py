"""Teaching it your handwriting, in a real browser: draw a digit, keep it with the right label when the model is
wrong, find it on My digits, and fine-tune a saved model on the collection from the Train page."""

import pytest
from playwright.sync_api import expect

from conftest import keep_some
from harness.browser import (
    CANVAS,
    WHITE_PIXELS,
    assert_no_exception,
    expect_digit,
    goto,
    open_draw,
    pick_option,
    stroke,
    wait_idle,
)
from mnist_core.store.collections import Collection

pytestmark = pytest.mark.browser


def test_keep_a_corrected_drawing_then_finetune_on_the_collection(page, server, sample, trained_checkpoint):
    collection = Collection("my-digits", server.models.parent / "my_digits")
    open_draw(page, server, trained_checkpoint)
    box = page.locator(CANVAS).bounding_box()
    stroke(page, box, [(0.5, 0.15), (0.5, 0.5), (0.5, 0.85)])  # a plain "1", which the model reads as 1
    expect_digit(page, 1)
    keep_box = page.locator(".st-key-draw_keep")
    expect(keep_box.get_by_role("button", name="Right, keep it as a 1")).to_be_visible()
    # Say it is a 7 instead (the learner's own, continental 7 perhaps): the corrected label is what is kept.
    pick_option(page, page.locator(".st-key-draw_keep_digit").first, "7")
    keep_box.get_by_role("button", name="Keep it as a 7").click()
    expect(page.get_by_text("Kept as a 7 in my-digits")).to_be_visible()
    wait_idle(page)
    assert collection.counts()[7] == 1, collection.counts()
    page.wait_for_function(f"() => ({WHITE_PIXELS})() === 0")  # a fresh canvas for the next one
    assert_no_exception(page)

    goto(page, server, "my_digits")
    expect(page.get_by_text("7 · 1 kept")).to_be_visible()
    expect(page.get_by_role("button", name="Download as a zip")).to_be_visible()
    expect(page.locator("[data-testid=stMain] [data-testid=stImage]")).to_have_count(1)

    keep_some(collection, sample, per_digit=2)  # enough drawings to hold a quarter out
    goto(page, server, "train?finetune=my-digits")
    finetune = page.locator("[data-testid=stExpander]").filter(has_text="Teach a saved model your handwriting")
    expect(finetune.get_by_role("button", name="Fine-tune")).to_be_visible()
    epochs = page.locator(".st-key-finetune_epochs input")
    epochs.fill("1")
    epochs.press("Enter")
    wait_idle(page)
    finetune.get_by_role("button", name="Fine-tune").click()
    metrics = page.locator("[data-testid=stMetric]")
    expect(metrics.filter(has_text="Your drawings")).to_be_visible(timeout=300_000)
    expect(metrics.filter(has_text="Original test images")).to_be_visible()
    expect(page.get_by_text("saved as a new model (the one it started from is kept)")).to_be_visible()
    assert_no_exception(page)
