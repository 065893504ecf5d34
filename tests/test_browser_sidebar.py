"""The shared sidebar in a real browser: which data is really in use when full MNIST cannot be had (the shared
server runs as a computer without MNIST and without internet: tests/conftest.py)."""

import pytest
from playwright.sync_api import expect

from harness.browser import assert_no_exception, goto, pick_dataset

pytestmark = pytest.mark.browser

SIDEBAR = "[data-testid='stSidebar']"


def test_offline_the_page_and_the_sidebar_say_the_sample_is_in_use(page, server):
    goto(page, server, "explore")  # the sidebar's box starts on full MNIST
    expect(page.get_by_text("Full MNIST is not on this computer")).to_be_visible()
    sidebar = page.locator(SIDEBAR)
    expect(sidebar).to_contain_text("In use instead: MNIST sample, 5,000 images (MNIST could not be loaded)")
    box = sidebar.locator(".st-key-dataset input[role='combobox']")
    assert box.input_value() == "MNIST (70,000 handwritten digits)"  # the box still shows what was chosen
    assert_no_exception(page)

    pick_dataset(page, "MNIST sample (5,000 real digits, works offline)")  # what the box names is what is used
    expect(sidebar).not_to_contain_text("In use instead")
    expect(page.get_by_text("Full MNIST is not on this computer")).to_have_count(0)
    assert_no_exception(page)
