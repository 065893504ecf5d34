"""The Train page in a real browser against the real app: live charts, finish, refresh, page switch, Stop, and
three sessions sharing one server."""

import re

import pytest
from playwright.sync_api import expect

from browser_helpers import CONNECTED, LONG_RUN, LOSS_POINTS, option_labels, run_id, set_slider
from conftest import Server, assert_no_exception, goto, new_page, wait_idle
from mnist_core.store.checkpoints import list_checkpoints

pytestmark = pytest.mark.browser


def test_train_live_then_refresh_and_switch_pages(page, browser, server):
    # A run that only Stop ends (LONG_RUN's model and batch size, its epochs set with the slider: 27 -> 30), so the
    # test can watch it live and then watch it end from Evaluate on any machine.
    goto(page, server, "train?model=cnn-example&batch_size=8&epochs=27")
    assert_no_exception(page)
    set_slider(page, "train_epochs", 3, "ArrowRight")
    assert page.locator(".st-key-train_epochs input[type='range']").input_value() == "30"
    assert "epochs=30" in page.url  # the address bar holds the settings, to share them
    page.locator(".st-key-train_start button").first.click()

    # Live: the loss chart gains points while the run goes on, the progress line shows speed and ETA.
    page.wait_for_function(f"({LOSS_POINTS})() > 0")
    first = page.evaluate(LOSS_POINTS)
    page.wait_for_function(f"({LOSS_POINTS})() > {first}")
    assert "images/s" in page.locator("[data-testid='stMain'] [data-testid='stProgress']").first.inner_text()
    run_link = page.url
    assert run_id(run_link)

    # A page left open during the run (Evaluate lists the saved models) lists the new model once the run ends,
    # with no click from the user. The run is ended from a second tab opened on its link.
    page.get_by_role("link", name="Evaluate").first.click()
    models = page.locator(".st-key-eval_model").first
    before = option_labels(page, models)
    # The sidebar follows the run on a page that does not rerun by itself: its progress line keeps moving.
    bar = page.locator("[data-testid='stSidebar'] [data-testid='stProgress']")
    now = bar.inner_text()
    assert "Training" in now
    page.wait_for_function(
        "t => { const b = document.querySelector(\"[data-testid='stSidebar'] [data-testid='stProgress']\");"
        " return b && b.innerText !== t }",
        arg=now,
    )
    tab = new_page(browser)
    try:
        goto(tab, server, run_link.split("/", 3)[-1])
        tab.locator(".st-key-train_stop button").first.click()
        tab.locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
    finally:
        tab.context.close()
    page.locator("[data-testid='stSidebar']").get_by_text(re.compile("Last run: stopped", re.I)).wait_for()
    wait_idle(page)
    after = option_labels(page, models)
    assert len(after) == len(before) + 1, (before, after)
    page.get_by_role("link", name="Train").first.click()
    page.locator(".st-key-train_epochs input[type='range']").wait_for()
    assert page.locator(".st-key-train_epochs input[type='range']").input_value() == "30"  # the knobs stay as set

    # The page shows the saved model's own score (a stopped run is scored and saved too).
    metric = page.locator("[data-testid='stMetric']", has_text="Test accuracy")
    metric.wait_for()
    saved = list_checkpoints(server.models)[0]  # the newest
    assert saved.config.model == "cnn-example" and saved.config.epochs == 30
    assert metric.locator("[data-testid='stMetricValue']").inner_text() == f"{saved.accuracy:.2%}"
    assert_no_exception(page)
    assert "run=" in page.url  # the URL remembers the run

    # A refresh finds the finished run again through the URL.
    page.reload()
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']")
    page.locator("[data-testid='stMetric']", has_text="Test accuracy").wait_for()
    assert page.locator(".st-key-train_epochs input[type='range']").input_value() == "30"  # and the settings

    # Switching pages and back keeps it too; the sidebar shows the last run from every page.
    page.get_by_role("link", name="Explore").first.click()
    wait_idle(page)
    assert re.search("Last run: stopped", page.locator("[data-testid='stSidebar']").inner_text(), re.I)
    page.get_by_role("link", name="Train").first.click()
    page.locator("[data-testid='stMetric']", has_text="Test accuracy").wait_for()
    assert_no_exception(page)


TEST_ACCURACY = "[data-testid=stMetric]:has-text('Test accuracy') [data-testid=stMetricValue]"
IN_LINE = re.compile(r"2 runs training now; yours is number 1 in line")


def test_three_sessions_press_start_at_once_two_train_and_the_third_waits(browser, tmp_path):
    """A class on one server with DIGIT_LAB_WORKERS=2: two runs train side by side, the third waits its turn and
    starts when one is stopped; every run is saved, and each session's Train page shows its own run."""
    models = tmp_path / "models"
    models.mkdir()
    server = Server(models, env={"DIGIT_LAB_WORKERS": "2"})
    pages = [new_page(browser) for _ in range(3)]
    try:
        for p in pages:
            goto(p, server, f"train?{LONG_RUN}")  # runs only Stop ends
        for p in pages:
            p.locator(".st-key-train_start button").first.click()
        # Two pages live, one in line. Until its neighbours' first steps reach it, the waiting page may say fewer
        # runs are training: each page's state is waited for until it is one of the two final ones.
        for p in pages:
            p.wait_for_function(f"({LOSS_POINTS})() > 0 || document.body.innerText.includes({IN_LINE.pattern!r})")
        waiting = [p for p in pages if p.locator("[data-testid='stMain']").get_by_text(IN_LINE).count()]
        assert len(waiting) == 1, [p.locator("[data-testid='stMain']").inner_text()[:300] for p in pages]
        [waiting] = waiting
        running = [p for p in pages if p is not waiting]
        for p in running:
            p.wait_for_function(f"({LOSS_POINTS})() > 0")  # both learn at the same time
        ids = {p: run_id(p.url) for p in pages}
        assert len(set(ids.values())) == 3

        # The other two students browse meanwhile (Evaluate, light with no model saved yet): three live Train pages
        # kept this machine's two cores so busy that the niced training workers barely moved. Their sidebars count
        # the runs going.
        for p in (running[1], waiting):
            p.get_by_role("link", name="Evaluate").first.click()
            wait_idle(p)
            p.locator("[data-testid='stSidebar']").get_by_text("2 runs training").wait_for()
        # A refresh on a page other than Train still finds the run: the address keeps ?run= on every page.
        browsing = running[1]
        assert run_id(browsing.url) == ids[browsing]
        browsing.reload()
        browsing.wait_for_selector(CONNECTED)
        wait_idle(browsing)

        running[0].locator(".st-key-train_stop button").first.click()
        running[0].locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
        for p in (waiting, browsing):  # the waiting run's turn came by itself; each page finds its own run again
            p.get_by_role("link", name="Train").first.click()
            expect(p.locator(".st-key-train_stop button").first).to_be_enabled()
            p.locator("[data-testid='stMain'] [data-testid='stProgress']").get_by_text("images/s").wait_for()
            p.wait_for_function(f"({LOSS_POINTS})() > 0")
            wait_idle(p)
            assert run_id(p.url) == ids[p]
            p.locator(".st-key-train_stop button").first.click()
            p.locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
            assert p.locator(".st-key-train_start button").first.is_enabled()
        saved = list_checkpoints(models)
        assert len(saved) == 3 and all(c.meta["metrics"]["stopped"] for c in saved)
        shown = [p.locator(TEST_ACCURACY).first.inner_text() for p in pages]
        assert set(shown) <= {f"{c.accuracy:.2%}" for c in saved}, shown
        for p in pages:
            assert_no_exception(p)
    finally:
        for p in pages:
            p.context.close()
        server.stop()
