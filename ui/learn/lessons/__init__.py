"""Every lesson, in the order a learner takes them (the tutorials' order: numbers first, testing last)."""

from __future__ import annotations

from ui.learn.lesson import Lesson
from ui.learn.lessons import numbers

LESSONS: tuple[Lesson, ...] = (numbers.LESSON,)
BY_SLUG: dict[str, Lesson] = {lesson.slug: lesson for lesson in LESSONS}
