"""Every lesson, in the order a learner takes them (the tutorials' order: numbers first, testing last)."""

from __future__ import annotations

from ui.learn.lesson import Lesson
from ui.learn.lessons import (
    activations,
    batches,
    convolution,
    gradients,
    layer,
    loss,
    numbers,
    overfitting,
    softmax,
    testing,
)

LESSONS: tuple[Lesson, ...] = (
    numbers.LESSON,
    layer.LESSON,
    softmax.LESSON,
    loss.LESSON,
    gradients.LESSON,
    activations.LESSON,
    batches.LESSON,
    convolution.LESSON,
    overfitting.LESSON,
    testing.LESSON,
)
BY_SLUG: dict[str, Lesson] = {lesson.slug: lesson for lesson in LESSONS}
