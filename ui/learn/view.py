"""How Learn draws its lessons list and one step of a lesson: the step's words, its question, its live widget,
the ticks of the steps done, and the way on to the next step or to Train."""

from __future__ import annotations

import html

import streamlit as st

from mnist_core.i18n import _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.recipes import RECIPES
from mnist_core.store.progress import Progress
from ui import identity
from ui.learn.data import sample_line
from ui.learn.lesson import Guess, Lesson
from ui.learn.tutorials import TUTORIALS

PAGE = "app_pages/learn.py"
SCREEN_READER_ONLY = "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap"


def progress() -> Progress:
    return Progress(identity.person().id)


def step_key(lesson: Lesson, n: int) -> str:
    return f"step-{lesson.slug}-{n}"


def lessons_list(lessons: tuple[Lesson, ...], done: frozenset[tuple[str, int]]) -> None:
    """Every lesson as a link to its first step not yet done, with how many of its steps this browser has done."""
    st.title(_("Learn"))
    st.markdown(
        _(
            "How does a network read a handwritten digit? Each lesson takes one idea from the tutorials Digit Lab "
            "grew out of, and lets you try it: a few short steps, each with something to move, press or draw."
        )
    )
    sample_line()
    for lesson in lessons:
        ticked = sum((lesson.slug, n) in done for n in range(1, len(lesson.steps) + 1))
        next_step = next((n for n in range(1, len(lesson.steps) + 1) if (lesson.slug, n) not in done), 1)
        with st.container(border=True, key=f"lesson-{lesson.slug}"):
            st.page_link(
                PAGE,
                label=f"**{_(lesson.title)}**",
                icon=":material/check_circle:" if ticked == len(lesson.steps) else ":material/school:",
                query_params={"lesson": lesson.slug, "step": str(next_step)},
            )
            st.caption(
                _(lesson.summary)
                + " · "
                + _("{done} of {total} steps done").format(done=ticked, total=len(lesson.steps))
            )


def lesson_page(lesson: Lesson, n: int, learner: Progress) -> None:
    """Step n (from 1) of `lesson`: the steps as ticked links, the step itself, then back and next."""
    done = learner.done()
    # A button, not a link: a link to this same page keeps the address's ?lesson=.
    st.button(_("All lessons"), icon=":material/arrow_back:", on_click=_to_list, type="tertiary")
    st.title(_(lesson.title))
    st.caption(
        _("From the tutorial: ")
        + " · ".join(f"{_(TUTORIALS[t].title)} ({TUTORIALS[t].original})" for t in lesson.tutorials)
    )
    with st.container(horizontal=True, key=f"steps-{lesson.slug}"):
        for i, step in enumerate(lesson.steps, start=1):
            tick = " ✓" if (lesson.slug, i) in done else ""
            st.page_link(
                PAGE,
                label=f"{i}{tick}",
                help=_(step.title) + (" · " + _("done") if tick else ""),
                query_params={"lesson": lesson.slug, "step": str(i)},
                disabled=i == n,
            )
    step = lesson.steps[n - 1]
    with st.container(key=step_key(lesson, n)):
        st.subheader(_("Step {n} of {total}: {title}").format(n=n, total=len(lesson.steps), title=_(step.title)))
        st.markdown(_(step.text))
        if step.guess is None or guess_first(step.guess, f"{lesson.slug}-{n}"):
            step.widget(f"{lesson.slug}-{n}")
            if step.alt:  # what the step's pictures show, said to a screen reader (the page already shows it)
                st.html(f'<span style="{SCREEN_READER_ONLY}">{html.escape(_(step.alt), quote=False)}</span>')
    with st.container(horizontal=True, key=f"nav-{lesson.slug}"):
        if n > 1:
            st.button(_("Back"), icon=":material/arrow_back:", on_click=_go, args=(lesson, n - 1, None))
        if n < len(lesson.steps):
            st.button(
                _("Next step"), type="primary", icon=":material/arrow_forward:", on_click=_go, args=(lesson, n + 1, n)
            )
        else:
            st.button(
                _("Finish the lesson"), type="primary", icon=":material/check:", on_click=_go, args=(lesson, n, n)
            )
    if n == len(lesson.steps):
        ending(lesson, (lesson.slug, n) in done)


def _to_list() -> None:
    for name in ("lesson", "step"):
        st.query_params.pop(name, None)


def _go(lesson: Lesson, to: int, done_step: int | None) -> None:
    """A button's callback: tick the step just done, then show step `to`."""
    if done_step is not None:
        progress().mark(lesson.slug, done_step)
    st.query_params["lesson"], st.query_params["step"] = lesson.slug, str(to)


def guess_first(guess: Guess, key: str) -> bool:
    """The step's question; True once the learner has picked an answer (then the widget may show what happens).
    The answer is kept apart from the radio, whose own state Streamlit drops once the learner goes to another step."""
    answered = f"{key}-answered"
    picked = st.radio(
        _(guess.question),
        range(len(guess.choices)),
        format_func=lambda i: _(guess.choices[i]),
        index=st.session_state.get(answered),
        key=f"{key}-guess",
        on_change=_remember,
        args=(answered, f"{key}-guess"),
    )
    if picked is None:
        st.caption(_("Pick an answer first: then the widget below shows what really happens."))
        return False
    if picked == guess.answer:
        st.success(_("Right.") + " " + _(guess.why), icon=":material/check:")
    else:
        st.info(
            _("Not quite: it is “{answer}”.").format(answer=_(guess.choices[guess.answer])) + " " + _(guess.why),
            icon=":material/lightbulb:",
        )
    return True


def _remember(answered: str, radio: str) -> None:
    st.session_state[answered] = st.session_state[radio]


def ending(lesson: Lesson, finished: bool) -> None:
    """Where a lesson leads: its tutorial's own network on Train, with the figure the tutorial reports beside the one
    Digit Lab measured."""
    with st.container(border=True, key=f"end-{lesson.slug}"):
        if finished:
            st.success(_("Lesson done. Every step is ticked on the lessons list."), icon=":material/celebration:")
        recipe = RECIPES[lesson.recipe]
        st.page_link(
            "app_pages/train.py",
            label=_("Train this tutorial's network: {recipe}").format(recipe=_(recipe.title)),
            icon=":material/model_training:",
            query_params={"recipe": lesson.recipe},
        )
        for t in lesson.tutorials:
            tutorial = TUTORIALS[t]
            if tutorial.recipe != lesson.recipe:
                continue
            reported = _(tutorial.reported)
            if tutorial.measured is None:
                line = _("The tutorial reports {reported}; Digit Lab has not measured it on full MNIST yet.")
                st.caption(line.format(reported=reported))
            else:
                line = _("The tutorial reports {reported}; Digit Lab measured {measured} on full MNIST.")
                st.caption(line.format(reported=reported, measured=_(tutorial.measured)))


def code_behind(config: TrainConfig, key: str) -> None:
    """ "Show the PyTorch code" for a lesson's training widget: the standalone script of exactly that run."""
    from ui.pytorch_code import show_code  # noqa: PLC0415 (the Train page's own expander, shared)

    show_code(config, key)
