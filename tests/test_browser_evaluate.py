"""The Evaluate page in a real browser: heatmap, metric, clicking a cell, download and upload."""

from __future__ import annotations

import re

import pytest
import torch

from harness.browser import assert_no_exception, goto, wait_idle
from mnist_core.store.checkpoints import delete_checkpoint, list_checkpoints

pytestmark = pytest.mark.browser

# plotly.js keeps the decoded arrays (the figure JSON ships them base64-encoded) in _fullData.
CONFUSION = (
    "() => Array.from(document.querySelector('.js-plotly-plot')._fullData.find(t => t.type === 'heatmap').z,"
    " row => Array.from(row))"
)


def _open(page, server):
    goto(page, server, "evaluate")
    page.wait_for_selector(".js-plotly-plot .heatmaplayer")
    assert_no_exception(page)


def _accuracy(page) -> float:
    metric = page.locator("[data-testid='stMetric']").filter(has_text="Accuracy").first
    value = metric.locator("[data-testid='stMetricValue']").inner_text()
    return float(value.strip().rstrip("%"))


def _captions(page) -> list[str]:
    return page.locator("[data-testid='stImageCaption']").all_inner_texts()


def test_evaluate_page_shows_heatmap_and_accuracy(server, page):
    page.set_viewport_size({"width": 1400, "height": 2600})  # Streamlit scrolls inside; make it all visible
    _open(page, server)
    assert _accuracy(page) > 90.0
    z = page.evaluate(CONFUSION)
    assert len(z) == 10 and sum(map(sum, z)) == 1000
    axes = page.locator(".js-plotly-plot .g-xtitle, .js-plotly-plot .g-ytitle").evaluate_all(
        "els => els.map(e => e.textContent)"
    )
    assert "Predicted" in axes and "True" in axes
    assert page.get_by_text("Mistakes up close").is_visible()
    page.locator("[data-testid='stImageCaption']").first.wait_for()  # the images come after the heading
    assert len(_captions(page)) > 0


def test_clicking_a_confusion_cell_shows_those_images(server, page):
    _open(page, server)
    z = page.evaluate(CONFUSION)
    true, pred = max(((t, p) for t in range(10) for p in range(10) if t != p), key=lambda tp: z[tp[0]][tp[1]])
    count = z[true][pred]
    assert count > 0
    area = page.locator(".js-plotly-plot .nsewdrag").first
    area.scroll_into_view_if_needed()
    box = area.bounding_box()
    page.mouse.click(box["x"] + box["width"] * (pred + 0.5) / 10, box["y"] + box["height"] * (true + 0.5) / 10)
    page.wait_for_function(
        f"() => [...document.querySelectorAll(\"[data-testid='stImageCaption']\")]"
        f".every(c => c.innerText.startsWith('true {true} → {pred} '))"
    )
    wait_idle(page)
    captions = _captions(page)
    assert len(captions) == count, captions
    assert page.locator(".st-key-eval_true input").input_value() == str(true)  # the selectboxes follow the click
    assert page.locator(".st-key-eval_pred input").input_value() == str(pred)
    assert_no_exception(page)


def test_download_then_upload_round_trip_and_pickle_refused(server, page, tmp_path):
    before = {c.run_id for c in list_checkpoints(server.models)}
    run_id = list_checkpoints(server.models)[0].run_id
    _open(page, server)
    page.get_by_text(re.compile(r"^Manage ")).click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download this model").click()
    download = info.value
    assert download.suggested_filename == f"{run_id}.safetensors"
    exported = tmp_path / download.suggested_filename
    download.save_as(exported)

    pickle = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(3)}, pickle)
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(pickle))
    page.get_by_text("model.pt was refused").wait_for()
    wait_idle(page)
    assert (
        "PyTorch pickle" in page.locator("[data-testid='stAlert']").filter(has_text="model.pt was refused").inner_text()
    )
    assert {c.run_id for c in list_checkpoints(server.models)} == before

    try:
        page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(exported))
        page.get_by_text(f"Imported {exported.name}").wait_for()
        wait_idle(page)
        added = {c.run_id for c in list_checkpoints(server.models)} - before
        assert len(added) == 1
        assert_no_exception(page)
        assert _accuracy(page) > 90.0  # the imported copy is now the selected model, scored on the same split
    finally:  # the server is shared by the whole session: leave its models folder as it was
        for c in list_checkpoints(server.models):
            if c.run_id not in before:
                delete_checkpoint(c.path)
