"""The Explore page in a real browser, against the real app under `streamlit run`."""

import pytest
from playwright.sync_api import expect

from harness.browser import assert_no_exception, goto, pick_dataset, wait_idle

pytestmark = pytest.mark.browser

SAMPLE = "MNIST sample (5,000 real digits, works offline)"


def grid_sources(page) -> list[str]:
    return page.locator("[data-testid='stImage'] img").evaluate_all("els => els.slice(0, 40).map(e => e.src)")


def test_explore_page_renders_charts_and_images_in_the_browser(server, page):
    goto(page, server, "explore")
    assert_no_exception(page)
    # the offline sample, chosen in the sidebar like a user would (the default "mnist" may fall back to it anyway)
    pick_dataset(page, SAMPLE)
    page.get_by_text("4,000 images").first.wait_for()
    page.locator(".js-plotly-plot").nth(3).wait_for()
    assert page.locator(".js-plotly-plot").count() == 4  # class balance, brightness, zoomed image, PCA map
    titles = page.locator(".js-plotly-plot .gtitle").all_text_contents()
    assert any("Class balance" in t for t in titles) and any("PCA map" in t for t in titles)
    assert page.locator(".js-plotly-plot .heatmaplayer").count() == 1
    # 40 grid images + 10 class averages, all actually decoded by the browser
    page.wait_for_function(
        "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")]"
        ".filter(i => i.complete && i.naturalWidth === 84).length === 50"
    )
    before = grid_sources(page)
    page.get_by_role("button", name="Reshuffle").click()
    wait_idle(page)
    page.wait_for_function(
        "(old) => document.querySelector(\"[data-testid='stImage'] img\").src !== old", arg=before[0]
    )
    assert grid_sources(page) != before
    # (the t-SNE map on request is tested in test_page_explore.py: a minute of this suite's time in a browser)
    expect(page.get_by_role("button", name="Compute a t-SNE map")).to_be_visible()
    assert_no_exception(page)
