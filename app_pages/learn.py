"""Learn: the tutorials Digit Lab grew out of, as lessons to do. /learn lists them; ?lesson=<slug>&step=<n> shows
one step."""

import streamlit as st

from mnist_core.i18n import _
from ui.learn import view
from ui.learn.lessons import BY_SLUG, LESSONS

learner = view.progress()
lesson = BY_SLUG.get(st.query_params.get("lesson", ""))
if lesson is None:
    if "lesson" in st.query_params:
        st.info(
            _("There is no lesson called “{slug}”: here are all of them.").format(slug=st.query_params["lesson"][:40])
        )
    view.lessons_list(LESSONS, learner.done())
else:
    try:
        n = min(max(int(st.query_params.get("step", "1")), 1), len(lesson.steps))
    except ValueError:
        n = 1
    # The address names the step shown (a lessons-list link may arrive without it), so a copied link opens it.
    st.query_params["lesson"], st.query_params["step"] = lesson.slug, str(n)
    view.lesson_page(lesson, n, learner)
