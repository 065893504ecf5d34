"""Refresh the README's screenshots (docs/screenshots/*.png) from the real app.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Trains a quick model with the engine (the fast recipe, 2 epochs on the offline 5,000-digit sample) into a
temporary models folder, so Evaluate and Draw have something to show; starts the app on that folder under
`streamlit run` (harness.browser.Server); opens it in Debian's headless Chromium at 1400x1000, picks the
offline sample in the sidebar and visits every page through the sidebar's navigation, as a user does; on Draw
it writes a "7" with the mouse and waits for the prediction. My digits shows a collection of 5 real test digits per
digit, kept as drawings (large, dark on light) before the app starts. One PNG of the visible window per page, made
smaller with Pillow where needed. Needs the test tools (`pip install -r requirements-dev.txt`) and Chromium.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from harness.browser import (  # noqa: E402
    CANVAS,
    CHROMIUM,
    CHROMIUM_ARGS,
    Server,
    assert_no_exception,
    goto,
    pick_dataset,
    prediction,
    stroke,
    wait_idle,
)
from mnist_core.data.sources import SOURCES, load_source  # noqa: E402
from mnist_core.learning.recipes import recipe_config  # noqa: E402
from mnist_core.runs.train import train_and_save  # noqa: E402
from mnist_core.store.collections import DEFAULT_NAME, Collection  # noqa: E402

VIEWPORT = {"width": 1400, "height": 1000}
MAX_BYTES = 300_000  # a README image should load quickly
# (file name, title in the sidebar's navigation); Inside only where the page exists.
PAGES = [("home", "Home"), ("explore", "Explore"), ("train", "Train"), ("evaluate", "Evaluate"), ("draw", "Draw")]
if (REPO / "app_pages" / "inside.py").exists():
    PAGES.append(("inside", "Inside"))
PAGES.append(("my_digits", "My digits"))


# Nothing greyed out (an element waiting for a rerun to redraw it) and no spinner ("Loading the dataset…").
SETTLED = """() => !document.querySelector("[data-stale='true'], [data-testid='stSpinner']")"""


def settle(page) -> None:
    """Until the page has looked finished for a whole second: wait_idle can return before a slow first run greys
    out the page or shows its spinner."""
    calm = 0
    while calm < 4:
        wait_idle(page)
        page.wait_for_function(SETTLED, timeout=120_000)
        page.wait_for_timeout(250)
        calm = calm + 1 if page.evaluate(SETTLED) else 0


def log(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


def save_small(png: Path) -> None:
    """Re-save the screenshot optimised, and with a 256-colour palette if it is still too big."""
    image = Image.open(png)
    image.load()
    image.save(png, optimize=True)
    if png.stat().st_size > MAX_BYTES:
        image.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(png, optimize=True)
    log(f"{png.relative_to(REPO) if png.is_relative_to(REPO) else png}: {png.stat().st_size / 1000:.0f} KB")


def open_page(page, name: str, title: str) -> None:
    """Click the page's entry in the sidebar's navigation (keeps the session, so the dataset choice stays)."""
    page.locator("[data-testid='stSidebarNav'] a").filter(has_text=title).first.click()
    page.wait_for_url(f"**/{name}", timeout=60_000)
    wait_idle(page)


def draw_seven(page) -> None:
    page.locator(CANVAS).wait_for(timeout=120_000)
    wait_idle(page)
    box = page.locator(CANVAS).bounding_box()
    stroke(page, box, [(0.2, 0.15), (0.55, 0.14), (0.82, 0.15)])
    stroke(page, box, [(0.82, 0.15), (0.65, 0.5), (0.45, 0.88)])
    prediction(page).wait_for(timeout=60_000)
    log(f"Draw: the model read the drawing as {prediction(page).inner_text()}")


def keep_drawings(folder: Path, per_digit: int = 5) -> None:
    """Real test digits as a person's drawings reach the app (140x140, dark ink on light paper), in the default
    My digits collection."""
    collection = Collection(DEFAULT_NAME, root=folder)
    test = load_source("mnist-sample").test
    for digit in range(10):
        for i in (test.labels == digit).nonzero().flatten()[:per_digit].tolist():
            big = Image.fromarray(255 - test.images[i].numpy()).resize((140, 140), Image.BILINEAR).convert("RGB")
            collection.keep(np.asarray(big), digit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="digitlab-screenshots-"))
    models = tmp / "models"
    models.mkdir()
    server = None
    try:
        log("training a quick model (fast recipe, 2 epochs, offline sample)…")
        outcome = train_and_save(recipe_config("fast", epochs=2), load_source("mnist-sample"), models_dir=models)
        log(f"saved model {outcome.checkpoint.name}: {outcome.report.accuracy:.2%} on held-out digits")
        keep_drawings(tmp / "my_digits")  # the folder Server points the app's My digits at
        server = Server(models)
        log(f"app at {server.url}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_context(viewport=VIEWPORT).new_page()
            goto(page, server)
            pick_dataset(page, SOURCES["mnist-sample"])
            settle(page)
            for name, title in PAGES:
                if title != "Home":
                    open_page(page, name, title)
                if name == "draw":
                    draw_seven(page)
                if name == "explore":  # the images are drawn after the script run ends
                    page.locator("[data-testid='stMain'] [data-testid='stImage'] img").first.wait_for(timeout=60_000)
                settle(page)
                page.wait_for_timeout(1500)  # charts and images finish drawing after the script run
                assert_no_exception(page)
                page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover label or tooltip in the picture
                png = args.out / f"{name}.png"
                page.screenshot(path=str(png), full_page=False)
                save_small(png)
            # Learn: a step with its question answered and its widget showing (the softmax of tutorial 001's scores)
            goto(page, server, "learn?lesson=softmax&step=1")
            step = page.locator(".st-key-step-softmax-1")
            if step.get_by_role("radiogroup").count():
                step.get_by_role("radiogroup").locator("label").first.click()
            settle(page)
            page.wait_for_timeout(1500)
            assert_no_exception(page)
            page.mouse.move(0, VIEWPORT["height"] - 1)
            png = args.out / "learn.png"
            page.screenshot(path=str(png), full_page=False)
            save_small(png)
            # Inside: the ten dream digits of the quick model, asked for with the expander's button
            goto(page, server, "inside")
            page.locator("[data-testid='stExpander']", has_text="What does this network imagine").locator(
                "summary"
            ).click()
            page.locator(".st-key-inside_dream_digits button[data-testid^=stBaseButton]:visible").first.click()
            page.locator("img[alt*='as this network imagines']").wait_for(timeout=120_000)
            settle(page)
            assert_no_exception(page)
            png = args.out / "dreams.png"
            page.locator("[data-testid='stExpander']", has_text="What does this network imagine").screenshot(
                path=str(png)
            )
            save_small(png)
            browser.close()
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
