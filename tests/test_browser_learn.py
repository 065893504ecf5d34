"""Learn in a real browser: every step of every lesson opened by its link, its question answered and its widget
shown, in Chinese on a phone (all in Chinese, nothing wider than the screen); Next through a lesson in English on a
desktop ticks its steps on the lessons list. Every step in English, and every training widget pressed, are in the
AppTest tests (test_learn_basics, test_learn_training, test_learn_cnn)."""

import pytest
from playwright.sync_api import expect

from harness.browser import NOT_RUNNING, SIDEWAYS, VIEWPORT, assert_no_exception, goto, wait_idle
from harness.chinese import BUTTONS, CJK, WORDS, english_left
from ui.learn.lessons import LESSONS

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


def walk(page, server, lang: str) -> list[str]:
    """Open each lesson by its first step's link, answer every step's question and go on with Next (a rerun, not a
    fresh page load: the browser's cheapest way through); the problems found, as lines. Each click waits for what it
    brings (the answer's note, the next step) and then for the end of that script run."""
    problems = []
    for lesson in LESSONS:
        goto(page, server, f"learn?lesson={lesson.slug}&step=1&lang={lang}")
        for n, step in enumerate(lesson.steps, start=1):
            box = page.locator(f".st-key-step-{lesson.slug}-{n}")
            expect(box).to_be_visible()
            assert f"step={n}" in page.url  # the address names the step shown: a copied link opens it
            if step.guess is not None:
                answer = box.locator("[data-testid=stAlert]")
                expect(answer).to_have_count(0)  # guess first: nothing says the answer before a pick
                box.get_by_role("radiogroup").locator("label").first.click()
                expect(answer.first).to_be_visible()  # right, or the right answer
                page.wait_for_function(NOT_RUNNING, timeout=120_000)
            assert_no_exception(page)
            where = f"{lesson.slug} step {n} ({lang})"
            if lang == "zh":
                texts = box.locator("h3, p, label, button").evaluate_all(WORDS)
                texts += page.locator(BUTTONS).evaluate_all(WORDS)
                left = [f"{t!r}" for t in texts if english_left(t)]
                if left or not any(CJK.search(t) for t in texts):
                    problems.append(f"{where}: English left in " + "; ".join(left))
                found = page.evaluate(SIDEWAYS)
                if found["scrolling"] or found["outside"]:
                    problems.append(f"{where}: wider than the phone: {found}")
            if n < len(lesson.steps):
                page.locator(f".st-key-nav-{lesson.slug} button[kind=primary]").click()
                expect(page.locator(f".st-key-step-{lesson.slug}-{n + 1}")).to_be_visible()
                page.wait_for_function(NOT_RUNNING, timeout=120_000)
    return problems


def test_every_step_of_every_lesson_in_chinese_on_a_phone(browser, server):
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        assert walk(context.new_page(), server, "zh") == []
    finally:
        context.close()


def test_next_through_a_lesson_ticks_its_steps_on_the_list(browser, server):
    context = browser.new_context(viewport=VIEWPORT)
    lesson = LESSONS[0]
    try:
        page = context.new_page()
        goto(page, server, "learn")
        expect(page.locator(f".st-key-lesson-{lesson.slug}")).to_contain_text(f"0 of {len(lesson.steps)} steps done")
        page.locator(f".st-key-lesson-{lesson.slug}").get_by_role("link").click()
        for n, step in enumerate(lesson.steps, start=1):
            box = page.locator(f".st-key-step-{lesson.slug}-{n}")
            expect(box).to_be_visible()
            if step.guess is not None:
                box.get_by_role("radiogroup").locator("label").first.click()
                wait_idle(page)
            last = n == len(lesson.steps)
            page.get_by_role("button", name="Finish the lesson" if last else "Next step").click()
            wait_idle(page)
        expect(page.locator(f".st-key-end-{lesson.slug}")).to_contain_text("Lesson done")
        page.get_by_role("button", name="All lessons").click()
        wait_idle(page)
        done = f"{len(lesson.steps)} of {len(lesson.steps)} steps done"
        expect(page.locator(f".st-key-lesson-{lesson.slug}")).to_contain_text(done)
        page.reload()  # kept for this browser, not only this session
        wait_idle(page)
        expect(page.locator(f".st-key-lesson-{lesson.slug}")).to_contain_text(done)
        assert_no_exception(page)
    finally:
        context.close()
