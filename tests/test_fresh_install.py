"""A fresh install under `streamlit run`: no models folder yet, and the first page a user opens is a bookmark.
The one test here that needs a server of its own, since a server with nothing saved is the point."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from harness.browser import CANVAS, PROMPT, Server, assert_no_exception, goto, new_page, wait_idle
from mnist_core.store.checkpoints import list_checkpoints

pytestmark = pytest.mark.browser

TEST_ACCURACY = "[data-testid=stMetric]:has-text('Test accuracy') [data-testid=stMetricValue]"
PROGRESS = "[data-testid=stMain] [data-testid=stProgress]"


def test_a_fresh_install_trains_its_first_models_and_a_closed_tab_does_not_stop_a_run(browser, tmp_path):
    models = tmp_path / "models"  # not created: the first save creates it
    server = Server(models)
    try:
        # Draw opened by its address on a fresh server gets the whole app (sidebar, navigation), not a bare page,
        # and with no saved model one click trains a quick one (a real run) with a live progress bar; then the
        # page reruns by itself (st.fragment(run_every=1) + st.rerun) and shows the canvas.
        page = new_page(browser)
        goto(page, server, "draw")
        sidebar = page.locator("[data-testid='stSidebar']")
        sidebar.locator(".st-key-dataset").wait_for()
        assert "Evaluate" in sidebar.inner_text() and "streamlit app" not in sidebar.inner_text().lower()
        button = page.get_by_role("button", name="Train a quick model")
        button.wait_for()
        expect(page.get_by_text("no saved model yet")).to_be_visible()
        assert not models.exists()
        button.click()
        expect(page.locator(PROGRESS)).to_be_visible()
        expect(page.get_by_text("Training a quick model")).to_be_visible()
        page.locator(CANVAS).wait_for(timeout=400_000)  # no click, no reload: the page moved on by itself
        wait_idle(page)
        assert_no_exception(page)
        [quick] = list_checkpoints(models)  # the first save made the folder
        expect(page.get_by_text(PROMPT)).to_be_visible()
        expect(page.locator(PROGRESS)).to_have_count(0)

        # A run started in a tab that is then closed goes on to the end, and its link shows the result. The tab is
        # closed as soon as the run is submitted (its link names it), not after it was seen live: a short run on a
        # fast machine can end before the live view's first redraw. 2 epochs of the fast model still take far
        # longer than closing a tab.
        goto(page, server, "train?epochs=2")
        page.locator(".st-key-train_start button").first.click()
        page.wait_for_function("() => location.search.includes('run=')")
        url = page.url
        page.context.close()  # the tab is gone mid-run
        assert list_checkpoints(models) == [quick], "the run had already finished: the tab was not closed mid-run"

        deadline = time.time() + 300  # the run goes on with no page open; wait for its save
        while len(list_checkpoints(models)) < 2 and time.time() < deadline:
            time.sleep(0.5)
        [saved] = [c for c in list_checkpoints(models) if c.run_id != quick.run_id]
        assert saved.config.epochs == 2
        assert saved.meta["metrics"]["stopped"] is False and saved.meta["metrics"]["epochs_done"] == 2

        page = new_page(browser)
        page.goto(url)  # the link of the run: ?run=<id>
        shown = page.locator(TEST_ACCURACY)
        shown.wait_for()
        wait_idle(page)
        assert shown.inner_text() == f"{saved.accuracy:.2%}"
        assert page.get_by_text("Stopped early", exact=False).count() == 0  # it ran to the end, it was not stopped
        assert page.locator(".st-key-train_start button").first.is_enabled()
        assert_no_exception(page)
        page.context.close()
    finally:
        server.stop()
