"""Driving the real app in a real browser: the server under `streamlit run`, waiting for Streamlit, and the
Draw and Train pages' controls. Shared by the browser tests (through conftest), tests/load_scenario.py and
benchmarks/load.py; nothing here is a pytest fixture, so scripts can import it too."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from playwright.sync_api import expect

from mnist_core.store.checkpoints import list_checkpoints

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("DIGIT_LAB_CHROMIUM", "/usr/lib/chromium/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-gpu",
    "--no-first-run",
]

# A computer without full MNIST that cannot download it: no idx files, and every download refused at once (a proxy on
# a closed local port), whatever network the machine has; the app itself is still reached directly.
OFFLINE = {
    **{name: "http://127.0.0.1:9" for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")},
    **{name: "127.0.0.1,localhost" for name in ("no_proxy", "NO_PROXY")},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """The app under `streamlit run` on `address`: 127.0.0.1 is a learner's own computer; any other loopback address
    (all of 127.0.0.0/8 reaches this machine only) is a shared classroom server to the app (ui.server)."""

    def __init__(self, models: Path, env: dict[str, str] | None = None, address: str = "127.0.0.1"):
        self.port = _free_port()
        self.address = address
        self.url = f"http://{address}:{self.port}"
        self.models = models
        env = {
            **os.environ,
            "DIGIT_LAB_MODELS": str(models),
            "DIGIT_LAB_MY_DIGITS": str(models.parent / "my_digits"),
            "DIGIT_LAB_PROGRESS": str(models.parent / "progress"),
            "PYTHONUNBUFFERED": "1",
            # Training takes one of the build machine's two cores, leaving the other to the browser and the app.
            "DIGIT_LAB_CPU_THREADS": "1",
            **(env or {}),
        }
        self.log = open(models.parent / f"streamlit-{self.port}.log", "w")
        self.proc = subprocess.Popen(
            # Only what a headless test needs on top of the app's own .streamlit/config.toml, so tests and
            # benchmarks run the app as `streamlit run streamlit_app.py` does for a user.
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(REPO / "streamlit_app.py"),
                "--server.headless",
                "true",
                "--server.port",
                str(self.port),
                "--server.address",
                address,
            ],
            cwd=REPO,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2).read() == b"ok":
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"streamlit did not start: {self.output()}")

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def stop(self):
        self.proc.terminate()  # as Ctrl-C: runs still going are stopped and saved, then the workers end
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# The selectors and scripts below are shared with the async sessions of tests/load_scenario.py.
CONNECTED = "[data-testid='stApp'][data-test-connection-state='CONNECTED']"
EXCEPTION = "[data-testid='stException']"
TITLE = "[data-testid='stMain'] h1"
# Idle: Streamlit says its script run is over (the status widget shows "Running" only after a delay, so a page
# that has drawn its title and is still loading data looked idle to that check alone), and no spinner is shown.
NOT_RUNNING = """() => { const app = document.querySelector("[data-testid='stApp']");
                         const w = document.querySelector("[data-testid='stStatusWidget']");
                         return !!app && app.getAttribute("data-test-script-state") === "notRunning"
                                && (!w || !/Stop|Running/.test(w.innerText))
                                && !document.querySelector("[data-testid='stSpinner']"); }"""


VIEWPORT = {"width": 1400, "height": 1000}
# Every wait is for a state the app reaches; this is only the ceiling for one step on a loaded 2-core machine.
STEP_TIMEOUT_MS = 120_000
expect.set_options(timeout=STEP_TIMEOUT_MS)


def new_page(browser, storage_state: dict | None = None):
    """A page in a fresh browser context (its own cookies: a new user session), or in one holding the cookies of
    `storage_state` (Playwright's, from context.storage_state()); close it with page.context.close()."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=storage_state)
    context.set_default_timeout(STEP_TIMEOUT_MS)
    return context.new_page()


def goto(page, server: Server, path: str = "") -> None:
    """Open a page of the app and wait until Streamlit is connected and done running the script."""
    page.goto(f"{server.url}/{path}")
    page.wait_for_selector(CONNECTED, timeout=120_000)
    wait_idle(page)


def wait_idle(page, timeout: float = 120) -> None:
    """Until the script run finishes: the status widget (which shows "Stop" while running) goes away."""
    page.wait_for_timeout(300)
    page.wait_for_function(NOT_RUNNING, timeout=timeout * 1000)
    # Every page starts with a title: until it is there, the first script run (imports, data) is still going.
    page.wait_for_selector(TITLE, timeout=timeout * 1000)
    page.wait_for_function(NOT_RUNNING, timeout=timeout * 1000)


def assert_no_exception(page) -> None:
    assert page.locator(EXCEPTION).count() == 0, page.locator(EXCEPTION).first.inner_text()


# ----- the Train page -----

# A run a test can rely on to still be going when it acts, on any machine: the heaviest model at the smallest batch
# for the most epochs the page offers is minutes of work even for a CPU ten times faster than the build machine's
# (the test ends it with Stop or Ctrl-C, or waits for its saved checkpoint: a state, never a time).
LONG_RUN = "model=cnn-example&batch_size=8&epochs=30"

# plotly keeps numpy arrays base64-encoded in .data; _fullData holds the decoded points
LOSS_POINTS = (
    "() => { const p = document.querySelector('.js-plotly-plot');"
    " return p && p._fullData && p._fullData[0] ? p._fullData[0].x.length : 0 }"
)


def pick_option(page, box, label: str) -> None:
    """Choose `label` in the selectbox inside the locator `box`, as a user does.

    Streamlit 1.67's selectbox is a react-aria combobox; a click that lands while the script is rerunning can
    leave the list closed, so open it again until the option can be clicked.
    """
    box.wait_for()
    combo = box.locator("input[role='combobox']")

    def shown() -> str:
        return combo.input_value() if combo.count() else box.inner_text()

    if label in shown():
        return
    option = page.get_by_role("option", name=label).first
    for attempt in range(4):
        opener = box.locator("button[aria-haspopup='listbox']")
        (opener.first if opener.count() else combo.first if combo.count() else box).click()
        try:
            option.click(timeout=10_000)
            break
        except Exception:
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
    wait_idle(page)
    assert label in shown(), f"could not pick {label!r} (the box shows {shown()!r})"


def option_labels(page, box) -> list[str]:
    """The options the selectbox inside `box` offers, read by opening its list (which does not rerun the page)."""
    box.wait_for()
    opener = box.locator("button[aria-haspopup='listbox'], input[role='combobox']").first
    opener.click()
    page.get_by_role("option").first.wait_for(timeout=10_000)
    labels = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return labels


def pick_dataset(page, label: str) -> None:
    """Choose a dataset in the sidebar's selectbox (key "dataset")."""
    pick_option(page, page.locator("[data-testid='stSidebar'] .st-key-dataset").first, label)


def run_id(url: str) -> str | None:
    """The training run a Train page's address names (?run=<id>), if any."""
    m = re.search(r"[?&]run=([^&]+)", url)
    return m.group(1) if m else None


def set_slider(page, key: str, presses: int, direction: str = "ArrowLeft") -> None:
    thumb = page.locator(f".st-key-{key} input[type='range']")
    thumb.focus()
    for _ in range(presses):
        thumb.press(direction)
    wait_idle(page)


# ----- the Draw page -----

CANVAS = "[data-testid=stBidiComponentIsolated] canvas.upper-canvas"
PROMPT = "Draw a digit…"
WHITE_PIXELS = """(at) => {  // white (ink) pixels in the drawing, or in a 5x5 spot around fractions `at` of it
  const c = document.querySelector('.st-key-draw_canvas [data-testid=stBidiComponentIsolated]')
    .shadowRoot.querySelector('canvas.dc-canvas.lower-canvas');
  const [x, y, w, h] = at ? [Math.round(at[0] * c.width) - 2, Math.round(at[1] * c.height) - 2, 5, 5]
                          : [0, 0, c.width, c.height];
  const d = c.getContext('2d').getImageData(x, y, w, h).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] > 128) n++;
  return n;
}"""


def open_draw(page, server, checkpoint: Path | None = None, by_link: bool = False):
    """The Draw page, reading with `checkpoint` (a model folder in the server's models) when given: the page
    starts on the newest model, which may be one another test trained on the same server. `by_link`: through the
    navigation's link, in the session the page already has, rather than by its address."""
    if by_link:
        page.get_by_role("link", name="Draw").first.click()
    else:
        goto(page, server, "draw")
    page.locator(CANVAS).wait_for(timeout=120_000)
    wait_idle(page)
    if checkpoint is not None:
        name = next(c.name for c in list_checkpoints(server.models) if c.run_id == checkpoint.name)
        pick_option(page, page.locator("[data-testid='stMain'] .st-key-draw_model").first, name)
        page.locator(CANVAS).wait_for()
    assert_no_exception(page)


def prediction(page):
    return page.locator("[data-testid=stMetric]").filter(has_text="Prediction").locator("[data-testid=stMetricValue]")


def on_canvas(box, points) -> list[tuple[float, float]]:
    """Points given as fractions of the canvas -> page coordinates."""
    return [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]


def stroke(page, box, points, steps=5, wait=True):
    """Press, drag through points (fractions of the canvas), release: one pen stroke."""
    at = on_canvas(box, points)
    page.mouse.move(*at[0])
    page.mouse.down()
    for x, y in at[1:]:
        page.mouse.move(x, y, steps=steps)
    page.mouse.up()
    if wait:
        wait_idle(page)


def ellipse(cx, cy, rx, ry, n=28):
    return [(cx + rx * np.sin(t), cy - ry * np.cos(t)) for t in np.linspace(0, 2 * np.pi, n + 1)]


def expect_digit(page, digit: int):
    expect(prediction(page)).to_have_text(str(digit))
    assert_no_exception(page)


def clear_button(page):
    return page.locator(".st-key-draw_clear").get_by_role("button", name="Clear")


def clear(page):
    clear_button(page).click()
    expect(page.get_by_text(PROMPT)).to_be_visible()
    expect(prediction(page)).to_have_count(0)
    page.wait_for_function(f"() => ({WHITE_PIXELS})() === 0", timeout=10_000)  # "Clear must wipe the drawing"


# ----- screens -----

# What scrolls sideways (the page itself, or a container holding the page: tables, charts and code may scroll
# inside themselves), and which visible controls stick out to the right of the screen.
SIDEWAYS = """() => {
  const main = document.querySelector('[data-testid=stMain]');
  const holders = [document.scrollingElement];
  for (let e = main; e; e = e.parentElement) holders.push(e);
  const inside = [...main.querySelectorAll('*')].filter(e =>
      !e.closest('.js-plotly-plot, [data-testid=stDataFrame], [data-testid=stTable], [data-testid=stCode], pre'));
  const scrolling = [...holders, ...inside].filter(e => e && e.scrollWidth > e.clientWidth + 1
      && (e === document.scrollingElement || ['auto', 'scroll'].includes(getComputedStyle(e).overflowX)));
  const outside = [...main.querySelectorAll('button, input:not([type=range]), textarea, [role=slider], canvas, img, h1')]
    .filter(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1; });
  return { scrolling: scrolling.map(e => e.getAttribute('data-testid') || e.tagName),
           outside: outside.map(e => (e.innerText || e.alt || e.getAttribute('aria-label') || e.tagName).slice(0, 40)) };
}"""
