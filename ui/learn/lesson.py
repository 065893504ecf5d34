"""What a lesson is made of: steps of one idea each, each with a live widget and, where it teaches, a question the
learner answers before the widget shows what happens. Every text is an English msgid, translated when drawn."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Guess:
    question: str
    choices: tuple[str, ...]
    answer: int  # index into choices
    why: str  # said after any answer, in a sentence: what the widget is about to show


@dataclass(frozen=True)
class Step:
    title: str
    text: str  # two or three sentences of Markdown, in the glossary's words
    widget: Callable[[str], None]  # draws the live widget; its argument starts every widget key it uses
    guess: Guess | None = None
    alt: str = ""  # what the widget's picture shows, for a screen reader (when it draws one)


@dataclass(frozen=True)
class Lesson:
    slug: str  # ?lesson=<slug>; never change one that has been shared
    title: str
    summary: str  # one line on the lessons list
    tutorials: tuple[str, ...]  # the seed tutorials it comes from: keys of tutorials.TUTORIALS
    recipe: str  # the Train recipe of its last link, "train this tutorial's network"
    steps: tuple[Step, ...]
