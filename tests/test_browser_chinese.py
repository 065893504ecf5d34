"""The app in Chinese in a real browser: every page's headings and buttons are in Chinese with no English left
in them (and, in the same visit, every image has alt text and Tab reaches every control: harness/access.py),
a browser that prefers Chinese gets it without asking, and the choice holds from page to page."""

import pytest
from playwright.sync_api import expect

from harness.access import assert_accessible
from harness.browser import STEP_TIMEOUT_MS, VIEWPORT, assert_no_exception, goto, wait_idle
from harness.chinese import BUTTONS, CJK, HEADINGS, WORDS, english_left
from ui.server import PHOTO_MB

pytestmark = pytest.mark.browser

PAGES = ["", "learn", "explore", "train", "evaluate", "draw", "my_digits", "inside"]


def chinese_page(browser, locale: str | None = None):
    context = browser.new_context(viewport=VIEWPORT, **({"locale": locale} if locale else {}))
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context.new_page()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_speaks_chinese_and_is_reached_with_tab(browser, server, path):
    page = chinese_page(browser)
    try:
        goto(page, server, f"{path}?lang=zh")
        assert_no_exception(page)
        texts = page.locator(HEADINGS).evaluate_all(WORDS)
        buttons = page.locator(BUTTONS).evaluate_all(WORDS)
        assert texts, "no headings found"
        left = [f"{t!r} ({', '.join(english_left(t))})" for t in texts + buttons if english_left(t)]
        assert not left, f"/{path}: English left in " + "; ".join(left)
        assert any(CJK.search(t) for t in texts), texts
        assert_accessible(page, path)
    finally:
        page.context.close()


def test_a_browser_that_prefers_chinese_gets_it_and_the_choice_holds_across_pages(browser, server):
    page = chinese_page(browser, locale="zh-CN")
    try:
        goto(page, server)
        expect(page.get_by_role("link", name="浏览数据")).to_be_visible()
        page.locator("[data-testid=stSidebarNav]").get_by_text("训练", exact=True).click()
        wait_idle(page)
        expect(page.locator("[data-testid=stMain] h1").first).to_contain_text("训练")

        box = page.locator("[data-testid=stSidebar] .st-key-lang")  # the switch: back to English, on every page
        box.locator("input[role='combobox'], button[aria-haspopup='listbox']").first.click()
        page.get_by_role("option", name="English").click()
        wait_idle(page)
        expect(page.locator("[data-testid=stMain] h1").first).to_have_text("Train a model")
        assert "lang=en" in page.url  # a link copied from the address opens in the same language
        page.locator("[data-testid=stSidebarNav]").get_by_text("Explore", exact=True).click()
        wait_idle(page)
        expect(page.get_by_text("Dataset", exact=True).first).to_be_visible()
        assert_no_exception(page)
    finally:
        page.context.close()


def test_streamlits_own_uploader_texts_are_in_chinese_too(browser, server):
    page = chinese_page(browser)
    try:
        goto(page, server, "draw?lang=zh")
        page.locator(".st-key-draw_input").get_by_text("上传照片").click()
        wait_idle(page)
        box = page.locator(".st-key-draw_upload")
        expect(box).to_contain_text(f"每个文件最大 {PHOTO_MB}MB")
        expect(box.get_by_role("button", name="上传")).to_be_visible()
        huge = bytes(PHOTO_MB * 2**20 + 1)
        box.locator("input[type=file]").set_input_files(
            files=[{"name": "huge.png", "mimeType": "image/png", "buffer": huge}]
        )
        expect(box).to_contain_text(f"文件不能超过 {PHOTO_MB}.0MB。")
        for english in ("per file", "File must be", "Upload"):
            expect(box).not_to_contain_text(english)
        assert_no_exception(page)
    finally:
        page.context.close()
