"""The Train page in a real browser against the real app: live charts, finish, refresh, page switch, Stop, and
two sessions sharing one server."""

import re

import pytest
from playwright.sync_api import expect

from harness.browser import (
    CANVAS,
    CONNECTED,
    LONG_RUN,
    LOSS_POINTS,
    assert_no_exception,
    expect_digit,
    goto,
    new_page,
    open_draw,
    option_labels,
    run_id,
    set_slider,
    stroke,
    wait_idle,
)
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
IN_LINE = "1 run training now; yours is number 1 in line"


def test_two_sessions_one_computer_runs_finish_in_order_and_pages_answer_meanwhile(browser, server, trained_checkpoint):
    """Two students on one server that trains one run at a time: the second run waits in line and says so, the
    second student's pages answer meanwhile and never show the first one's run, and when the first run ends the
    second starts by itself and finishes; both are saved, in order, and each page shows its own result. (Many
    sessions at once, with their latencies, are benchmarks/load.py's; two workers side by side are test_jobs'.)"""
    before = {c.run_id for c in list_checkpoints(server.models)}
    first, second = new_page(browser), new_page(browser)
    try:
        goto(first, server, f"train?{LONG_RUN}")  # a run only Stop ends
        first.locator(".st-key-train_start button").first.click()
        first.wait_for_function(f"({LOSS_POINTS})() > 0")
        first_id = run_id(first.url)

        goto(second, server, "train?epochs=1")
        main = second.locator("[data-testid='stMain']")
        expect(main.get_by_text("Press Start training")).to_be_visible()  # not the other student's run
        assert second.evaluate(LOSS_POINTS) == 0 and run_id(second.url) is None
        second.locator(".st-key-train_start button").first.click()
        expect(main.get_by_text(IN_LINE)).to_be_visible()
        second_id = run_id(second.url)
        assert second_id and second_id != first_id

        # Meanwhile the second student draws: the page answers while the computer trains the first run, and a
        # refresh there still knows the waiting run (the address keeps ?run= on every page).
        open_draw(second, server, trained_checkpoint, by_link=True)
        assert run_id(second.url) == second_id
        box = second.locator(CANVAS).bounding_box()
        stroke(second, box, [(0.5, 0.15), (0.5, 0.5), (0.51, 0.85)])
        expect_digit(second, 1)
        second.reload()
        second.wait_for_selector(CONNECTED)
        wait_idle(second)
        assert run_id(second.url) == second_id

        first.locator(".st-key-train_stop button").first.click()
        first.locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
        second.get_by_role("link", name="Train").first.click()
        second.locator(TEST_ACCURACY).wait_for()  # its turn came by itself, and it ran to the end
        wait_idle(second)
        assert run_id(second.url) == second_id
        assert second.get_by_text("Stopped early").count() == 0

        [ran_second, ran_first] = [c for c in list_checkpoints(server.models) if c.run_id not in before]  # newest first
        assert ran_first.meta["metrics"]["stopped"] and not ran_second.meta["metrics"]["stopped"]
        assert ran_first.record.created <= ran_second.record.created  # saved in the order they ran
        assert ran_first.config.model == "cnn-example" and ran_second.config.epochs == 1
        assert first.locator(TEST_ACCURACY).first.inner_text() == f"{ran_first.accuracy:.2%}"
        assert second.locator(TEST_ACCURACY).first.inner_text() == f"{ran_second.accuracy:.2%}"
        for p in (first, second):
            assert_no_exception(p)
    finally:
        for p in (first, second):
            p.context.close()
