"""A run on a shared classroom server (the app bound to 127.0.0.2: loopback, but not this computer's own address to
the app) belongs to whoever started it: a second browser that opens its link watches it live, read-only, and
trains its own. (On a learner's own computer every tab is the same person: tests/test_browser_train.py.)"""

import io
import shutil
import time
import zipfile

import pytest
from PIL import Image
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


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, content in files.items():
            z.writestr(name, content)
    return buffer.getvalue()


def _png(width: int, height: int, shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), shade).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _open_collection(page, server, name: str) -> None:
    goto(page, server, "my_digits")
    box = page.locator(".st-key-my_digits_name_input input")
    box.fill(name)
    box.press("Enter")
    wait_idle(page)


DELETE = "[class*='st-key-my_digits_delete_'] button"


def test_drawings_stay_yours_after_the_browser_closes_until_you_start_fresh(browser, shared_server):
    a = new_page(browser)
    try:
        _open_collection(a, shared_server, "li-hua")
        a.get_by_text("Add drawings from a zip").click()
        upload = a.locator(".st-key-my_digits_upload input[type=file]")
        archive = _zip({"3/a.png": _png(40, 40, 90), "4/b.png": _png(40, 40, 120), "5/huge.png": _png(7000, 7000)})
        upload.set_input_files(files=[{"name": "mine.zip", "mimeType": "application/zip", "buffer": archive}])
        main = a.locator("[data-testid='stMain']")
        expect(main.get_by_text("Added 2 drawings from mine.zip.")).to_be_visible()
        expect(main.get_by_text("5/huge.png is 7000x7000 pixels; one image may have at most 4,000,000")).to_be_visible()
        expect(a.locator(DELETE).first).to_be_enabled()
        state = a.context.storage_state()
    finally:
        a.context.close()
    # A browser restart keeps only cookies that have an expiry: Streamlit's own (XSRF) is a session cookie.
    state["cookies"] = [c for c in state["cookies"] if c["expires"] > 0]
    kept = [c for c in state["cookies"] if c["name"] == "digit_lab_browser"]
    assert kept and kept[0]["expires"] > time.time() + 300 * 86400

    b = new_page(browser, storage_state=state)
    try:
        _open_collection(b, shared_server, "li-hua")
        expect(b.locator(DELETE).first).to_be_enabled()  # still Li Hua's, in the reopened browser

        sidebar = b.locator("[data-testid='stSidebar']")
        sidebar.get_by_text("You", exact=True).click()
        sidebar.get_by_role("button", name="Not me? Start fresh").click()
        # The page writes the browser's new secret to the cookie: what the next page load will be known by.
        b.wait_for_function(
            "old => document.cookie.includes('digit_lab_browser=') && !document.cookie.includes(old)",
            arg=kept[0]["value"],
            timeout=30_000,
        )
        _open_collection(b, shared_server, "li-hua")
        expect(b.locator(DELETE).first).to_be_disabled()  # the next student cannot change Li Hua's drawings
        assert_no_exception(b)
        fresh = [c for c in b.context.cookies() if c["name"] == "digit_lab_browser"]
        assert fresh and fresh[0]["value"] != kept[0]["value"]
    finally:
        b.context.close()
