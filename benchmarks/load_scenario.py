"""Eight browser sessions at once on one real server: one trains on the Train page, five draw digits on the Draw
page, two browse Explore (or, for the test, sessions that only peek at their Train page). Shared by
tests/test_load.py (a few rounds, asserted) and benchmarks/load.py (more rounds, latencies printed).

Every session is its own Playwright browser context in one headless Chromium, driven by its own asyncio task
through one Playwright connection, so the sessions really act at the same time. (Threads with one Playwright
each, attached to one Chromium over CDP, opened the pages more slowly (docs/performance.md): every connection
attaches to every page.) The scenario:

1. every session opens its page; the trainer asks for 30 epochs and presses Start as soon as its page is there;
2. once every page is open and the run's loss chart has points, each drawing session draws its own digit
   `rounds` times (Clear between rounds, the stroke moved a little each time), timing each reading in the
   browser from the mouse-up to the Prediction metric appearing, and checks in its sidebar that the run is
   still going; each Explore session filters the image grid to its own class, then opens the Train page,
   which must not show the other session's run; each peeking session opens only its Train page, with the same
   check;
3. when all of them are done, the trainer presses Stop and waits for its run's "Test accuracy";
4. with `idle_rounds`, the drawing sessions then draw again with no training going, for comparison.

Anything a session sees that is wrong raises in its task; `Scenario.run` keeps it in that session's Outcome.
Nothing here asserts a duration.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import traceback
from dataclasses import dataclass, field

from harness.browser import (
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CONNECTED,
    EXCEPTION,
    LOSS_POINTS,
    NOT_RUNNING,
    PROMPT,
    TITLE,
    WHITE_PIXELS,
    Server,
    clear_button,
    ellipse,
    on_canvas,
    prediction,
)

# One stroke each: shapes the 3-epoch sample model reads reliably wherever the stroke is moved by a few pixels
# (checked with 9 offsets, drawn with 1 to 5 mouse moves between points).
SHAPES = {
    0: ellipse(0.5, 0.5, 0.17, 0.3, n=12),
    1: [(0.5, 0.15), (0.5, 0.5), (0.51, 0.85)],
    2: [(0.28, 0.3), (0.4, 0.15), (0.6, 0.15), (0.68, 0.3), (0.3, 0.82), (0.75, 0.82)],
    3: [
        (0.3, 0.2),
        (0.5, 0.13),
        (0.66, 0.22),
        (0.62, 0.38),
        (0.45, 0.48),
        (0.66, 0.6),
        (0.66, 0.78),
        (0.5, 0.87),
        (0.3, 0.8),
    ],
    6: [(0.62, 0.13), (0.42, 0.35), (0.33, 0.62), (0.4, 0.84), (0.58, 0.86), (0.65, 0.68), (0.52, 0.55), (0.36, 0.64)],
    7: [(0.25, 0.15), (0.75, 0.15), (0.5, 0.55), (0.4, 0.88)],
    8: [
        (0.62, 0.22),
        (0.5, 0.13),
        (0.36, 0.22),
        (0.4, 0.38),
        (0.62, 0.62),
        (0.6, 0.82),
        (0.45, 0.88),
        (0.36, 0.76),
        (0.4, 0.6),
        (0.62, 0.38),
        (0.64, 0.25),
    ],
    9: [(0.62, 0.3), (0.5, 0.16), (0.36, 0.26), (0.4, 0.44), (0.6, 0.4), (0.64, 0.3), (0.62, 0.6), (0.6, 0.88)],
}
DRAW_DIGITS = (0, 1, 7, 2, 3)
EXPLORE_CLASSES = (4, 5, 6, 8, 9)
# Armed before a stroke: times the mouse-up, the first message the page then sends to the server (the canvas's
# drawing; the canvas component waits 200 ms after a change before it sends), and the first appearance of the
# Prediction metric after it. The send is seen by wrapping WebSocket.prototype.send, which changes nothing else.
ARM = """() => {
  const s = window.__digitLabLatency = {up: null, sent: null, shown: null, value: null};
  if (!window.__digitLabSend) {
    const send = window.__digitLabSend = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const t = window.__digitLabLatency;
      if (t && t.up !== null && t.sent === null) t.sent = performance.now();
      return send.call(this, data);
    };
  }
  const value = () => {
    const m = [...document.querySelectorAll('[data-testid=stMetric]')].find(e => e.innerText.includes('Prediction'));
    const v = m && m.querySelector('[data-testid=stMetricValue]');
    return v ? v.innerText.trim() : null;
  };
  window.addEventListener('mouseup', () => { s.up = performance.now(); }, {capture: true, once: true});
  const seen = new MutationObserver(() => {
    if (s.up === null || s.shown !== null) return;
    const v = value();
    if (v !== null) { s.shown = performance.now(); s.value = v; seen.disconnect(); }
  });
  seen.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""
SHOWN = "() => window.__digitLabLatency.shown !== null"
READ = "() => window.__digitLabLatency"
CAPTIONS = "() => [...document.querySelectorAll(\"[data-testid='stImageCaption']\")].slice(0, 40).map(c => c.innerText)"
SIDEBAR = "[data-testid=stSidebar]"
VIEWPORT = {"width": 1100, "height": 800}
TIMEOUT_MS = 240_000  # eight sessions and a training run on a shared 2-core machine are slow; never asserted


@dataclass
class Outcome:
    """What one session did and saw."""

    role: str  # train, draw, explore, peek
    name: str
    digit: int | None = None  # draw: the digit it draws; explore: the class it filters the grid to
    readings: list[dict] = field(default_factory=list)  # draw: {phase, round, ms, to_send_ms, value, training}
    run_url: str = ""  # train: its page's address once the run is going (?run=<id>)
    accuracy: str = ""  # train: its "Test accuracy" metric
    marks: list[tuple[float, str]] = field(default_factory=list)  # (time.time(), step) for timelines
    error: str | None = None

    def mark(self, what: str) -> None:
        self.marks.append((time.time(), what))


# ----- async twins of the page helpers in browser_helpers.py (same selectors and scripts) -----


async def wait_idle(page) -> None:
    await page.wait_for_timeout(300)
    await page.wait_for_function(NOT_RUNNING)
    await page.wait_for_selector(TITLE)
    await page.wait_for_function(NOT_RUNNING)


async def goto(page, server: Server, path: str) -> None:
    await page.goto(f"{server.url}/{path}")
    await page.wait_for_selector(CONNECTED)
    await wait_idle(page)


async def assert_no_exception(page) -> None:
    if await page.locator(EXCEPTION).count():
        raise AssertionError(await page.locator(EXCEPTION).first.inner_text())


async def stroke(page, box, points, steps=3) -> None:
    """One pen stroke (fewer mouse moves than the sync helper's: each is a round trip to a busy browser)."""
    at = on_canvas(box, points)
    await page.mouse.move(*at[0])
    await page.mouse.down()
    for x, y in at[1:]:
        await page.mouse.move(x, y, steps=steps)
    await page.mouse.up()


async def clear(page, timeout: float | None = None) -> None:
    """Press Clear and wait until the prompt is back and the canvas is empty (`timeout` in ms: the context's)."""
    await clear_button(page).click()
    await page.get_by_text(PROMPT).wait_for(timeout=timeout)
    await prediction(page).wait_for(state="detached", timeout=timeout)
    await page.wait_for_function(f"() => ({WHITE_PIXELS})() === 0", timeout=timeout)  # Clear must wipe the drawing


async def read_one(page, outcome: Outcome, i: int, phase: str) -> None:
    """Clear, arm the timer, draw the session's digit moved by a few pixels, wait for its reading."""
    if await prediction(page).count() or not await page.get_by_text(PROMPT).count():
        await clear(page)
    dx, dy = 0.03 * (i % 3 - 1), 0.03 * ((i // 3) % 3 - 1)  # never the same drawing twice in a row
    box = await page.locator(CANVAS).bounding_box()
    await page.evaluate(ARM)
    outcome.mark("stroke")
    await stroke(page, box, [(x + dx, y + dy) for x, y in SHAPES[outcome.digit]])
    outcome.mark("stroked")
    await page.wait_for_function(SHOWN, polling=50)
    timing = await page.evaluate(READ)
    await wait_idle(page)
    await assert_no_exception(page)
    training = "Training " in await page.locator(SIDEBAR).inner_text()  # the sidebar names a running run
    sent = timing["sent"] if timing["sent"] is not None else timing["shown"]
    outcome.readings.append(
        {
            "phase": phase,
            "round": i,
            "ms": timing["shown"] - timing["up"],
            "to_send_ms": sent - timing["up"],
            "value": timing["value"],
            "training": training,
        }
    )
    outcome.mark(f"read {phase} {i}")


class Scenario:
    def __init__(
        self,
        server: Server,
        draw: int = 5,
        explore: int = 2,
        rounds: int = 2,
        idle_rounds: int = 0,
        train_link: str = "epochs=30",
        peek: int = 0,
    ):
        # train_link: the Train page settings of the run the others draw beside (the benchmark measures the
        # default model's load; the test needs a run only its Stop can end, see browser_helpers.LONG_RUN).
        self.server, self.rounds, self.idle_rounds, self.train_link = server, rounds, idle_rounds, train_link
        self.outcomes = (
            [Outcome("train", "train")]
            + [Outcome("draw", f"draw-{d}", d) for d in DRAW_DIGITS[:draw]]
            + [Outcome("explore", f"explore-{c}", c) for c in EXPLORE_CLASSES[:explore]]
            + [Outcome("peek", f"peek-{i}") for i in range(peek)]
        )

    def run(self) -> list[Outcome]:
        """All sessions to the end (in a thread of its own: the caller may hold a sync Playwright's loop)."""
        worker = threading.Thread(target=asyncio.run, args=(self._all(),), name="load-scenario")
        worker.start()
        worker.join()
        return self.outcomes

    async def _all(self) -> None:
        from playwright.async_api import async_playwright

        n = len(self.outcomes)
        self.ready = asyncio.Barrier(n)  # every page open
        self.busy = asyncio.Barrier(n)  # passed twice: the run has started / everyone is done
        self.stopped = asyncio.Event()  # the run has ended (the drawing sessions' idle rounds wait for it)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            await asyncio.gather(*[self._session(browser, o) for o in self.outcomes])
            await browser.close()

    async def _session(self, browser, outcome: Outcome) -> None:
        context = await browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(TIMEOUT_MS)
        try:
            page = await context.new_page()
            await getattr(self, f"_{outcome.role}")(page, outcome)
            await assert_no_exception(page)
        except Exception:
            outcome.error = traceback.format_exc(limit=-4)
            await self.ready.abort()  # nobody waits for a session that has failed
            await self.busy.abort()
            self.stopped.set()
        finally:
            await context.close()
            outcome.mark("closed")

    # ----- the three kinds of session -----

    async def _train(self, page, outcome: Outcome) -> None:
        await goto(page, self.server, f"train?{self.train_link}")  # long enough that only Stop ends it
        outcome.mark("open")
        await page.locator(".st-key-train_start button").first.click()
        await page.wait_for_function(f"({LOSS_POINTS})() > 0")
        outcome.run_url = page.url
        outcome.mark("running")
        await self.ready.wait()
        await self.busy.wait()  # let the others go ...
        await self.busy.wait()  # ... and wait until they are all done
        outcome.mark("others done")  # (each drawing session saw the run going in its sidebar)
        await page.locator(".st-key-train_stop button").first.click()
        metric = page.locator("[data-testid=stMetric]", has_text="Test accuracy")
        await metric.wait_for()
        outcome.mark("stopped")
        self.stopped.set()
        await page.locator("[data-testid='stMain']").get_by_text("Stopped early").wait_for()
        outcome.accuracy = await metric.locator("[data-testid=stMetricValue]").inner_text()

    async def _draw(self, page, outcome: Outcome) -> None:
        await goto(page, self.server, "draw")
        await page.locator(CANVAS).wait_for()
        outcome.mark("open")
        await self.ready.wait()
        await self.busy.wait()
        for i in range(self.rounds):
            await read_one(page, outcome, i, "training")
        await self.busy.wait()
        if self.idle_rounds:
            await self.stopped.wait()
            await wait_idle(page)
            for i in range(self.idle_rounds):
                await read_one(page, outcome, self.rounds + i, "idle")

    async def _explore(self, page, outcome: Outcome) -> None:
        await goto(page, self.server, "explore")
        await page.locator(".js-plotly-plot").nth(3).wait_for()  # class balance, brightness, zoom, PCA map
        outcome.mark("open")
        await self.ready.wait()
        await self.busy.wait()
        mine = str(outcome.digit)
        option = page.get_by_role("option", name=mine, exact=True)
        while not await option.count():  # a click that lands during a rerun may not open the list
            await page.locator(".st-key-explore_class_w").click()
            await page.wait_for_timeout(500)
        await option.click()
        await page.wait_for_function(f"() => ({CAPTIONS})().every(c => c === {json.dumps(mine)})")
        await wait_idle(page)
        shown = await page.evaluate(CAPTIONS)
        assert len(shown) == 40 and set(shown) == {mine}, f"{outcome.name} shows classes {sorted(set(shown))}"
        titles = " | ".join(await page.locator(".js-plotly-plot .gtitle").all_text_contents())
        assert "Training loss" not in titles and "Accuracy per epoch" not in titles, titles
        outcome.mark("filtered")
        await page.locator(SIDEBAR).get_by_role("link", name="Train").click()
        await self._no_run_shown(page)
        outcome.mark("train page")
        await self.busy.wait()

    async def _peek(self, page, outcome: Outcome) -> None:
        """A session that never pressed Start opens the Train page while the other session's run goes."""
        await goto(page, self.server, "train")
        outcome.mark("open")
        await self.ready.wait()
        await self.busy.wait()
        await goto(page, self.server, "train")  # again, now that the run is going
        await self._no_run_shown(page)
        outcome.mark("train page")
        await self.busy.wait()

    async def _no_run_shown(self, page) -> None:
        """This session's Train page knows of no run: the one going belongs to another session."""
        await page.get_by_text("Press Start training").wait_for()
        await wait_idle(page)
        await page.locator("[data-testid=stMain] .js-plotly-plot").first.wait_for()
        assert await page.evaluate(LOSS_POINTS) == 0  # its charts are the empty preview, not the other run's curves
        assert "run=" not in page.url and await page.locator(".st-key-train_start button").first.is_enabled()


def failures(outcomes: list[Outcome]) -> list[str]:
    """Every session's error, the one that failed first before those it stopped (they only show that their
    barrier was aborted)."""
    return sorted((f"{o.name}: {o.error}" for o in outcomes if o.error), key=lambda e: "BrokenBarrierError" in e)


def latencies(outcomes: list[Outcome], phase: str, part: str = "ms") -> list[float]:
    """Every reading's `part` (ms: mouse-up to the metric; to_send_ms: mouse-up to the page sending)."""
    return [r[part] for o in outcomes for r in o.readings if r["phase"] == phase]
