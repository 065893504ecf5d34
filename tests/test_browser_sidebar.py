"""The shared sidebar in a real browser: which data is really in use when full MNIST cannot be had."""

import pytest
from playwright.sync_api import expect

from conftest import Server, assert_no_exception, goto, pick_dataset

pytestmark = pytest.mark.browser

SIDEBAR = "[data-testid='stSidebar']"


def test_offline_the_page_and_the_sidebar_say_the_sample_is_in_use(page, tmp_path, monkeypatch):
    # A computer without MNIST that cannot download it: no idx files, and every download refused at once (a proxy
    # on a closed local port), whatever network the machine running the tests has.
    monkeypatch.setenv("DIGIT_LAB_DATA", str(tmp_path / "data"))
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")  # the app itself is still reached directly
    (tmp_path / "models").mkdir()
    server = Server(tmp_path / "models")
    try:
        goto(page, server, "explore")  # the sidebar's box starts on full MNIST
        expect(page.get_by_text("Full MNIST is not on this computer")).to_be_visible(timeout=120_000)
        sidebar = page.locator(SIDEBAR)
        expect(sidebar).to_contain_text("In use instead: MNIST sample, 5,000 images (MNIST could not be loaded)")
        box = sidebar.locator(".st-key-dataset input[role='combobox']")
        assert box.input_value() == "MNIST (70,000 handwritten digits)"  # the box still shows what was chosen
        assert_no_exception(page)

        pick_dataset(page, "MNIST sample (5,000 real digits, works offline)")  # what the box names is what is used
        expect(sidebar).not_to_contain_text("In use instead")
        expect(page.get_by_text("Full MNIST is not on this computer")).to_have_count(0)
        assert_no_exception(page)
    finally:
        server.stop()
