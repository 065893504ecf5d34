"""A run on a shared classroom server (the app bound to 127.0.0.2: loopback, but not this computer's own address to
the app) belongs to whoever started it: a second browser that opens its link watches it live, read-only, and
trains its own. (On a learner's own computer every tab is the same person: tests/test_browser_train.py.)"""

import shutil

import pytest
from playwright.sync_api import expect

from conftest import OFFLINE
from harness.browser import LONG_RUN, LOSS_POINTS, Server, assert_no_exception, goto, new_page, run_id, wait_idle

pytestmark = pytest.mark.browser

STOP = ".st-key-train_stop button"
START = ".st-key-train_start button"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, trained_checkpoint):
    home = tmp_path_factory.mktemp("shared-server")
    models = home / "models"
    models.mkdir()
    shutil.copytree(trained_checkpoint, models / trained_checkpoint.name)
    srv = Server(models, env={"DIGIT_LAB_DATA": str(home / "data"), **OFFLINE}, address="127.0.0.2")
    yield srv
    srv.stop()


def test_a_shared_link_shows_the_run_live_to_another_student_who_cannot_stop_it(browser, shared_server):
    a, b = new_page(browser), new_page(browser)  # two browser contexts: two students
    try:
        goto(a, shared_server, f"train?{LONG_RUN}")  # a run only Stop ends
        a.locator(START).first.click()
        a.wait_for_function(f"({LOSS_POINTS})() > 0")
        a_run = run_id(a.url)
        assert a_run and "epochs=30" in a.url  # the link copied after Start still holds the settings

        # B opens A's link: the run live, whose it is, no Stop, and the link's settings in B's own controls.
        goto(b, shared_server, a.url.split("/", 3)[-1])
        main = b.locator("[data-testid='stMain']")
        expect(main.get_by_text("This is another student's run: you can watch it here")).to_be_visible()
        b.wait_for_function(f"({LOSS_POINTS})() > 0")
        seen = b.evaluate(LOSS_POINTS)
        b.wait_for_function(f"({LOSS_POINTS})() > {seen}")  # live: it goes on filling in
        assert b.locator(STOP).count() == 0
        assert b.locator(".st-key-train_epochs input[type='range']").input_value() == "30"
        sidebar = b.locator("[data-testid='stSidebar']")
        expect(sidebar.get_by_text("Shared server: each student's runs and models are their own.")).to_be_visible()
        assert_no_exception(b)

        # Another page does not carry A's run in B's address; back on Train, B's Start is free and starts B's own.
        b.get_by_role("link", name="Explore").first.click()
        wait_idle(b)
        assert run_id(b.url) is None
        b.get_by_role("link", name="Train").first.click()
        expect(main.get_by_text("Press Start training")).to_be_visible()
        expect(b.locator(START).first).to_be_enabled()
        b.locator(START).first.click()
        expect(main.get_by_text("1 run training now; yours is number 1 in line")).to_be_visible()
        b_run = run_id(b.url)
        assert b_run and b_run != a_run
        b.locator(STOP).first.click()  # B's own run: B's Stop (it was waiting, so it never starts)
        expect(b.locator(START).first).to_be_enabled()
        assert_no_exception(b)

        # A's Stop still works, for A.
        a.locator(STOP).first.click()
        a.locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
        assert_no_exception(a)
    finally:
        for p in (a, b):
            p.context.close()
