"""The app in Chinese in a real browser: every page's headings and buttons are in Chinese with no English left
in them (and, in the same visit, every image has alt text and Tab reaches every control: harness/access.py),
a browser that prefers Chinese gets it without asking, and the choice holds from page to page."""

import re

import pytest
from playwright.sync_api import expect

from harness.access import assert_accessible
from harness.browser import STEP_TIMEOUT_MS, VIEWPORT, assert_no_exception, goto, wait_idle
from ui.server import PHOTO_MB

pytestmark = pytest.mark.browser

PAGES = ["", "explore", "train", "evaluate", "draw", "my_digits", "inside"]
# Latin words a Chinese interface keeps: names of things (the data set, the product, optimizers, file types) and
# the few terms the Chinese tutorials write in English.
KEPT = {
    "mnist", "digit", "lab", "fashion", "pytorch", "cnn", "mlp", "adam", "adamw", "sgd", "adadelta", "softmax", "epoch",
    "logits", "relu", "png", "jpg", "jpeg", "zip", "cpu", "gpu", "cuda", "mps", "idx", "bfloat16", "float32", "bf16",
    "amx", "avx", "onecycle", "url", "id", "ok", "my", "digits", "strided", "lenet", "sne",
}  # fmt: skip
HEADINGS = "[data-testid=stMain] :is(h1, h2, h3), [data-testid=stSidebarNavLink]"
BUTTONS = "[data-testid=stMain] button, [data-testid=stSidebar] button"
# The visible words of each element: icons are drawn from an icon font whose glyph names ("search") are text too.
WORDS = """(elements) => elements.filter(e => e.offsetParent !== null).map(e => {
  const copy = e.cloneNode(true);
  copy.querySelectorAll('[data-testid=stIconMaterial], [data-testid=stIconEmoji]').forEach(i => i.remove());
  return copy.textContent.trim();
}).filter(t => t)"""
CJK = re.compile(r"[\u4e00-\u9fff]")


def english_left(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in KEPT]


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
