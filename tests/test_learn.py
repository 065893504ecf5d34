"""Learn's frame, on the real app in AppTest: the lessons list with each lesson's progress, a lesson's steps as
links, the question answered before the widget shows, Next ticking the step for this browser, and links that name no
lesson or a step out of range. Each lesson's own steps: tests/test_learn_*.py."""

from __future__ import annotations

import subprocess
import sys

from mnist_core.store.progress import Progress
from tests.conftest import open_page
from ui.learn.lessons import LESSONS
from ui.learn.view import step_key

FIRST = LESSONS[0]


def keys(at) -> set[str]:
    """The keys of the containers on the page (st.container(key=...) is how links and tests find a step): a
    container's id ends with "-<key>"."""
    found, stack = set(), [at._tree]
    while stack:
        node = stack.pop()
        if getattr(node, "type", None) == "flex_container":
            found.add(node.proto.id)
        stack.extend(getattr(node, "children", {}).values())
    return found


def has_container(at, key: str) -> bool:
    return any(found.endswith("-" + key) for found in keys(at))


def open_step(at, slug: str, step: int | str):
    at.query_params["lesson"], at.query_params["step"] = slug, str(step)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_list_links_every_lesson_with_its_progress(app):
    at = open_page(app, "learn")
    assert at.title[0].value == "Learn"
    links = {link.proto.label: link for link in at.page_link}
    for lesson in LESSONS:
        [label] = [label for label in links if lesson.title in label]
        assert dict(
            links[label].proto.query_string and [kv.split("=") for kv in links[label].proto.query_string.split("&")]
        ) == {
            "lesson": lesson.slug,
            "step": "1",
        }
    assert sum("0 of" in c.value for c in at.caption) == len(LESSONS)


def test_a_step_asks_first_then_shows_its_widget_and_next_ticks_it(app):
    at = open_step(open_page(app, "learn"), FIRST.slug, 1)
    step = FIRST.steps[0]
    assert at.subheader[0].value == f"Step 1 of {len(FIRST.steps)}: {step.title}"
    assert has_container(at, step_key(FIRST, 1)) and not has_container(at, step_key(FIRST, 2))
    if step.guess is not None:
        assert at.radio[0].label == step.guess.question and at.radio[0].value is None
        shown_before = len(at.get("plotly_chart")) + len(at.get("imgs"))
        at.radio[0].set_value((step.guess.answer + 1) % len(step.guess.choices)).run()
        assert at.info and step.guess.choices[step.guess.answer] in at.info[0].value  # wrong: the right answer said
        assert len(at.get("plotly_chart")) + len(at.get("imgs")) > shown_before  # now the widget shows
        at.radio[0].set_value(step.guess.answer).run()
        assert at.success and at.success[0].value.startswith("Right.")
    if step.alt:  # what the step's pictures show, for a screen reader
        assert any(step.alt in h.proto.body for h in at.get("html"))
    next_button = [b for b in at.button if b.label in ("Next step", "Finish the lesson")][0]
    next_button.click().run()
    assert not at.exception
    done = {(FIRST.slug, 1)}
    assert at.query_params["step"] == ("2" if len(FIRST.steps) > 1 else "1")
    at.query_params.clear()
    at.run()
    [line] = [c.value for c in at.caption if FIRST.summary in c.value]
    assert f"{len(done)} of {len(FIRST.steps)} steps done" in line


def test_an_answer_is_still_there_when_the_learner_comes_back_to_its_step(app):
    lesson = next(lesson for lesson in LESSONS if len(lesson.steps) > 1 and lesson.steps[0].guess is not None)
    at = open_step(open_page(app, "learn"), lesson.slug, 1)
    at.radio[0].set_value(lesson.steps[0].guess.answer).run()
    at = open_step(at, lesson.slug, 2)
    at = open_step(at, lesson.slug, 1)
    assert at.radio[0].value == lesson.steps[0].guess.answer and at.success


def test_a_link_to_no_lesson_lists_them_all_and_a_step_out_of_range_shows_the_nearest(app):
    at = open_step(open_page(app, "learn"), "no-such-lesson", 1)
    assert "There is no lesson called “no-such-lesson”" in at.info[0].value and at.title[0].value == "Learn"
    for asked, shown in (("0", 1), ("9999", len(FIRST.steps)), ("three", 1)):
        at = open_step(at, FIRST.slug, asked)
        assert at.subheader[0].value.startswith(f"Step {shown} of {len(FIRST.steps)}")


def test_every_lesson_ends_on_train_with_its_tutorials_recipe(app):
    at = open_page(app, "learn")
    for lesson in LESSONS:
        at = open_step(at, lesson.slug, len(lesson.steps))
        [to_train] = [link for link in at.page_link if link.proto.page == "train"]
        assert to_train.proto.query_string == f"recipe={lesson.recipe}"
        assert any("The tutorial reports" in c.value for c in at.caption), lesson.slug


def test_progress_is_kept_per_browser_in_a_file_and_a_bad_id_is_never_a_path(tmp_path):
    Progress("ab12", tmp_path).mark("numbers", 2)
    Progress("ab12", tmp_path).mark("numbers", 1)
    Progress("cd34", tmp_path).mark("layer", 1)
    assert Progress("ab12", tmp_path).done() == {("numbers", 1), ("numbers", 2)}  # another object: read from disk
    assert Progress("cd34", tmp_path).done() == {("layer", 1)}
    (tmp_path / "ab12.json").write_text("{ not json")
    assert Progress("ab12", tmp_path).done() == frozenset()  # damaged: start again, no error
    outside = Progress("../../etc/passwd", tmp_path)
    outside.mark("numbers", 1)
    assert outside.path is None and outside.done() == {("numbers", 1)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ab12.json", "cd34.json"]


def test_learn_loads_neither_captum_nor_scikit_learn():
    code = (
        "import sys, runpy; import ui.learn.lessons, ui.learn.view; "
        "print(sorted(m for m in ('captum', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
