"""The students of benchmarks/class_load.py, each an asyncio task on one real server: a few real browser pages
(drawing on Draw, or pressing Start on Train and watching the run) and many light clients (harness/light_client.py)
that press Start and follow their run, or open pages again and again.

Every student arrives at a moment of its own in the class's first seconds, thinks a little between actions (seeded
pauses) and records what it waited for: each page's answer, each drawing's reading (load_scenario.read_one, timed in
the browser from mouse-up to the Prediction metric), its run's id and what its page said about it. The class is
over when every run has ended and every student has done its rounds. Nothing here asserts.
"""

from __future__ import annotations

import asyncio
import random
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum

from load_scenario import TIMEOUT_MS, Outcome, clear, read_one, wait_idle

from harness.browser import (
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CONNECTED,
    EXCEPTION,
    NOT_RUNNING,
    PROMPT,
    TITLE,
    Server,
    prediction,
    run_id,
)
from harness.light_client import Answer, LightClient

# What the light students open, in turn (each starts at a place of its own): every page kind a class reads.
VISITS = (
    ("explore", ""),
    ("evaluate", ""),
    ("learn", ""),
    ("draw", ""),
    ("learn", "lesson=softmax&step=2"),
    ("explore", ""),
    ("evaluate", ""),
    ("learn", "lesson=convolution&step=1"),
)
RUN_CEILING_S = 1800.0  # a run not ended after half an hour counts as lost
CLEAR_WAIT_MS = 30_000  # a Clear that has changed nothing after this long is pressed again, as a student would
IN_LINE = re.compile(r"number (\d+) in line")
DONE_TEXT, FAILED_TEXT, REFUSED_TEXT = "Test accuracy", "Training failed", "Cannot start"
TRAINING = re.compile(r"^(Starting: loading the data|Epoch \d+/\d+ · )")  # the live view's progress line
ENDED_JS = """() => { const t = document.querySelector('[data-testid=stMain]').innerText;
                      return t.includes('Test accuracy') || t.includes('Training failed'); }"""


class Role(StrEnum):
    DRAW = "draw"  # a browser drawing digits on Draw
    TRAIN = "train"  # a browser pressing Start on Train and watching its run
    LIGHT_TRAIN = "light-train"  # a light client pressing Start and following its run's live view
    LIGHT_BROWSE = "light-browse"  # a light client opening pages again and again


@dataclass
class PageAnswer:
    kind: str  # what was asked: a page's name, "Start", "redraw" (a page's timed redraw)
    seconds: float
    error: str | None = None  # no answer, or an exception shown on the page


@dataclass
class RunRecord:
    """One student's training run, as the student saw it."""

    run_id: str | None = None  # from the page's address (?run=)
    page_said: str = ""  # done (its Test accuracy shown), failed, refused (Cannot start), or "" (no end seen)
    most_in_line: int = 0  # the highest "number N in line" its page showed
    started: float = 0.0  # time.time() of the Start press
    began: float = 0.0  # when the page first showed it training (light clients only: their redraws say so)
    ended: float = 0.0  # when the page first showed the end


@dataclass
class Student:
    role: Role
    name: str
    secret: str  # the browser's cookie (digit_lab_browser): who this student is to the app
    arrives_s: float  # seconds after the class starts
    digit: int | None = None  # DRAW: the digit drawn
    answers: list[PageAnswer] = field(default_factory=list)
    run: RunRecord | None = None
    clears_again: int = 0  # DRAW: Clear presses that had changed nothing after CLEAR_WAIT_MS
    outcome: Outcome = None  # DRAW: the readings (load_scenario's Outcome); every role: its error

    def __post_init__(self):
        self.outcome = self.outcome or Outcome(self.role.value, self.name, self.digit)

    @property
    def browser(self) -> bool:
        return self.role in (Role.DRAW, Role.TRAIN)


async def _page_text(page) -> str:
    try:
        return await page.locator("[data-testid=stApp]").inner_text(timeout=10_000)
    except Exception as e:
        return f"(unreadable: {type(e).__name__})"


class Class:
    """Runs the students to the end: `Class(server, students, ...).run()`."""

    def __init__(
        self,
        server: Server,
        students: list[Student],
        train_link: str,
        rounds: int,
        model_name: str,
        seed: int = 0,
        think_s: tuple[float, float] = (2.0, 6.0),
    ):
        self.server, self.students, self.train_link, self.rounds = server, students, train_link, rounds
        self.model_name, self.seed, self.think_s = model_name, seed, think_s
        self.trainers_left = sum(s.role in (Role.TRAIN, Role.LIGHT_TRAIN) for s in students)
        self.runs_started = 0

    def runs_going(self) -> bool:
        return self.runs_started > 0 and not self.over.is_set()

    def run(self) -> None:
        asyncio.run(self._all())

    async def _all(self) -> None:
        self.over = asyncio.Event()  # every run has ended
        self.started = time.time()
        if not self.trainers_left:
            self.over.set()
        if not any(s.browser for s in self.students):
            await asyncio.gather(*[self._student(None, s) for s in self.students])
            return
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            await asyncio.gather(*[self._student(browser, s) for s in self.students])
            await browser.close()

    def _run_ended(self) -> None:
        self.trainers_left -= 1
        if self.trainers_left <= 0:
            self.over.set()

    async def _student(self, browser, s: Student) -> None:
        rng = random.Random(f"{self.seed}-{s.name}")
        await asyncio.sleep(s.arrives_s)
        context = page = None
        try:
            if s.browser:
                context = await browser.new_context(viewport={"width": 1100, "height": 800})
                context.set_default_timeout(TIMEOUT_MS)
                await context.add_cookies([{"name": "digit_lab_browser", "value": s.secret, "url": self.server.url}])
                page = await context.new_page()
                await getattr(self, f"_{s.role.name.lower()}")(page, s, rng)
            else:
                async with LightClient(self.server.url, s.secret) as client:
                    await getattr(self, f"_{s.role.name.lower()}")(client, s, rng)
        except Exception:
            s.outcome.error = traceback.format_exc(limit=-4)
            if page is not None:  # what the student was looking at
                s.outcome.error += "\nthe page showed: " + " | ".join((await _page_text(page)).split("\n"))[-600:]
        finally:
            if s.role in (Role.TRAIN, Role.LIGHT_TRAIN) and (s.run is None or not s.run.ended):
                self._run_ended()  # a student that failed before its run ended holds nobody up
            if context is not None:
                await self.over.wait()  # a browser stays open, its page redrawing itself, while the class goes on
                await context.close()
            s.outcome.mark("closed")

    # ----- browsers -----

    async def _open(self, page, s: Student, path: str, ready: str) -> None:
        """Open a page by its address and time it until its content is there: title drawn, script run over,
        the page's own element (`ready`) shown."""
        started = time.perf_counter()
        await page.goto(f"{self.server.url}/{path}")
        await page.wait_for_selector(CONNECTED)
        await page.wait_for_selector(TITLE)
        await page.wait_for_function(NOT_RUNNING)
        await page.locator(ready).first.wait_for()
        s.answers.append(PageAnswer(f"{path.split('?')[0]} (browser)", time.perf_counter() - started))
        await wait_idle(page)
        if await page.locator(EXCEPTION).count():
            s.answers[-1].error = await page.locator(EXCEPTION).first.inner_text()

    async def _draw(self, page, s: Student, rng: random.Random) -> None:
        await self._open(page, s, "draw", CANVAS)
        await self._use_model(page)
        i = 0
        while i < self.rounds or not self.over.is_set():
            phase = "runs" if self.runs_going() else "class"
            await self._clear(page, s)
            await read_one(page, s.outcome, i, phase)
            i += 1
            await asyncio.sleep(rng.uniform(0.5, 1.5))  # a look at the answer before the next digit

    async def _clear(self, page, s: Student) -> None:
        """An empty canvas before the next digit, pressing Clear again if a press changed nothing (seen under load:
        the page kept the last drawing and its prediction for minutes)."""
        for _attempt in range(4):
            if not await prediction(page).count() and await page.get_by_text(PROMPT).count():
                return
            try:
                await clear(page, timeout=CLEAR_WAIT_MS)
                return
            except Exception:  # Playwright's TimeoutError
                s.clears_again += 1
                print(
                    f"[class] {s.name}: Clear changed nothing in {CLEAR_WAIT_MS / 1000:.0f} s, "
                    f"{time.time() - self.started:.0f} s into the class ({self.trainers_left} runs not ended)",
                    file=sys.stderr,
                    flush=True,
                )
        raise AssertionError("Clear did not empty the canvas in four presses")

    async def _use_model(self, page) -> None:
        """Read with the benchmark's own model (the newest when the page opened; a keyed selectbox keeps it while
        the class's new models join the list), picking it as a user does if another one is shown."""
        box = page.locator("[data-testid=stMain] .st-key-draw_model").first
        combo = box.locator("input[role='combobox']")
        for _attempt in range(5):
            shown = await combo.input_value() if await combo.count() else await box.inner_text()
            if self.model_name in shown:
                return
            await box.locator("input[role='combobox'], button[aria-haspopup='listbox']").first.click()
            try:
                await page.get_by_role("option", name=self.model_name).first.click(timeout=10_000)
            except Exception:
                await page.keyboard.press("Escape")
            await wait_idle(page)
        raise AssertionError(f"the Draw page does not offer the model {self.model_name!r}")

    async def _train(self, page, s: Student, rng: random.Random) -> None:
        s.run = RunRecord()
        await self._open(page, s, f"train?{self.train_link}", ".st-key-train_start button")
        await asyncio.sleep(rng.uniform(1.0, 4.0))  # a look at the settings
        s.run.started = time.time()
        await page.locator(".st-key-train_start button").first.click()
        self.runs_started += 1
        await page.wait_for_function("() => location.search.includes('run=')")
        s.run.run_id = run_id(page.url)
        await page.wait_for_function(ENDED_JS, polling=1000, timeout=RUN_CEILING_S * 1000)
        s.run.ended = time.time()
        text = await page.locator("[data-testid=stMain]").inner_text()
        s.run.page_said = "failed" if FAILED_TEXT in text else "done"
        self._run_ended()

    # ----- light clients -----

    def _record(self, s: Student, answer: Answer, kind: str | None = None) -> Answer:
        kind = kind or (answer.page if answer.kind == "open" else answer.kind)
        s.answers.append(PageAnswer(kind, answer.seconds, answer.error or next(iter(answer.exceptions), None)))
        if answer.error:  # no answer in minutes, or the connection closed: this student gives up, and says so
            raise ConnectionError(f"{kind}: {answer.error}")
        return answer

    async def _light_train(self, client: LightClient, s: Student, rng: random.Random) -> None:
        s.run = RunRecord()
        self._record(s, await client.open("train", self.train_link))
        await self._stay(client, s, rng.uniform(1.0, 4.0))
        s.run.started = time.time()
        pressed = self._record(s, await client.press("train_start"), "Start")
        self.runs_started += 1
        s.run.run_id = next((p[4:] for p in client.query.split("&") if p.startswith("run=")), None)
        if pressed.has(REFUSED_TEXT) or s.run.run_id is None:
            s.run.page_said = "refused"
            s.run.ended = time.time()
            self._run_ended()
            return
        answers = [pressed]
        while time.time() - s.run.started < RUN_CEILING_S:
            for a in answers:
                s.run.most_in_line = max([s.run.most_in_line, *(int(n) for t in a.texts for n in IN_LINE.findall(t))])
                if not s.run.began and any(TRAINING.match(t) for t in a.texts):
                    s.run.began = time.time()
                if a.has(DONE_TEXT) or a.has(FAILED_TEXT):
                    s.run.page_said = "failed" if a.has(FAILED_TEXT) else "done"
                    s.run.ended = time.time()
                    self._run_ended()
                    return
            # The live view redraws itself while the run goes; a page without a timer is opened again, as a
            # student refreshes a page that seems stuck.
            answers = (
                await self._stay(client, s, 2.0)
                if client.timers
                else [self._record(s, await client.open("train", client.query))]
            )

    async def _light_browse(self, client: LightClient, s: Student, rng: random.Random) -> None:
        start, i = rng.randrange(len(VISITS)), 0
        while i < self.rounds or not self.over.is_set():
            page, query = VISITS[(start + i) % len(VISITS)]
            self._record(s, await client.open(page, query))
            await self._stay(client, s, rng.uniform(*self.think_s))
            i += 1

    async def _stay(self, client: LightClient, s: Student, seconds: float) -> list[Answer]:
        return [self._record(s, a) for a in await client.stay(seconds)]


async def open_each(server: Server, s: Student, train_link: str, times: int = 1) -> None:
    """One light client opens every page kind (Train with `train_link`, and VISITS) `times` times, half a second
    apart: a teacher trying the server before the class, or the page answers of a server with one visitor."""
    async with LightClient(server.url, s.secret) as client:
        for _ in range(times):
            for page, query in (("train", train_link), *VISITS):
                answer = await client.open(page, query)
                s.answers.append(PageAnswer(page, answer.seconds, answer.error or next(iter(answer.exceptions), None)))
                await asyncio.sleep(0.5)
