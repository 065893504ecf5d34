"""The Draw page in AppTest: no-model state, quick training, the canvas, the prompt, controls with help.

Drawing strokes and uploading files need a real browser: see test_browser_draw.py.
"""

import time

from conftest import open_page
from mnist_core.classroom.jobs import Status
from ui import runs


def _texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def test_without_a_saved_model_the_page_offers_quick_training(app, models_dir):
    open_page(app, "draw")
    assert "no saved model yet" in _texts(app.info)
    button = app.button(key="draw_quick_train")
    assert button.help
    assert not app.get("bidi_component"), "no canvas without a model to read it"
    assert not app.get("metric")


def test_quick_training_saves_a_model_and_the_canvas_appears(app, models_dir):
    open_page(app, "draw")
    app.button(key="draw_quick_train").click().run()
    assert not app.exception, [e.value for e in app.exception]
    queue = runs.job_queue()  # the same process-wide queue the page used (cache_resource)
    job = queue.get(app.session_state["draw_quick_job"])
    assert job is not None and job.config.model == "fast-strided" and job.split == "train"
    assert app.get("progress"), "a running quick training shows a progress bar"
    # Let it learn for a few batches, then stop it: a stopped run is still evaluated and saved,
    # which exercises the whole path (job -> checkpoint -> page) without waiting the full ~20 s.
    deadline = time.time() + 180
    while (
        job.progress() == 0 and job.active and time.time() < deadline
    ):  # a run stopped before its first step saves nothing
        time.sleep(0.1)
    queue.stop(job.id)
    assert queue.wait(job, timeout=180), "the quick training run did not finish"
    assert job.status in (Status.STOPPED, Status.DONE), job.error
    assert [p.name for p in models_dir.iterdir() if not p.name.startswith(".")], "no checkpoint was saved"
    app.run()  # what the fragment's st.rerun() does once the job is over
    assert not app.exception, [e.value for e in app.exception]
    assert app.get("bidi_component"), "the canvas appears once a model exists"
    assert "quick model is ready" in _texts(app.toast)
    assert app.selectbox(key="draw_model").value == job.summary.checkpoint.rsplit("/", 1)[-1]


def test_a_run_started_elsewhere_is_shown_instead_of_the_quick_training_button(app, models_dir, sample):
    from mnist_core.learning.recipes import recipe_config

    queue = runs.job_queue()
    open_page(app, "draw")  # fills the caches: the queue is the one the page uses
    # Small batches for the most epochs training accepts: minutes of work on any CPU, so the run is still going when
    # the page is drawn, whatever the machine; the test stops it at the end.
    job = queue.submit(recipe_config("fast", epochs=50, batch_size=8), sample, "train", owner="another browser")
    try:
        deadline = time.time() + 60
        while job.status != Status.RUNNING and time.time() < deadline:
            time.sleep(0.05)
        app.run()
        assert not app.exception, [e.value for e in app.exception]
        assert any("The Strided CNN (default) is training" in p.proto.text for p in app.get("progress"))
        assert "draw_quick_train" not in [b.key for b in app.button]  # its model will do: no second run
    finally:
        queue.stop(job.id)
        queue.wait(job, timeout=120)


def test_with_a_model_an_empty_canvas_gets_a_prompt_not_a_prediction(app, models_with_checkpoint):
    open_page(app, "draw")
    canvases = app.get("bidi_component")
    assert len(canvases) == 1 and canvases[0].key == "draw_canvas"
    assert "Draw a digit" in _texts(app.info)
    assert not app.get("metric"), "an empty canvas must not produce a prediction"
    run_id = next(p.name for p in models_with_checkpoint.iterdir())
    box = app.selectbox(key="draw_model")
    assert box.options == [next(c.name for c in runs.checkpoints())] and box.value == run_id


def test_every_control_explains_itself(app, models_with_checkpoint):
    open_page(app, "draw")
    controls = [
        app.selectbox(key="draw_model"),
        app.radio(key="draw_input"),
        app.slider(key="draw_pen"),
        app.button(key="draw_clear"),
    ]
    for control in controls:
        assert control.help, f"{control.key} has no help text"
    app.radio(key="draw_input").set_value("Upload a photo").run()
    assert not app.exception
    (uploader,) = app.get("file_uploader")
    assert uploader.proto.help


def test_clear_and_upload_mode_keep_the_page_working(app, models_with_checkpoint):
    open_page(app, "draw")
    app.button(key="draw_clear").click().run()
    assert not app.exception
    assert app.session_state["draw_clears"] == 1
    assert app.get("bidi_component") and not app.get("metric")
    app.radio(key="draw_input").set_value("Upload a photo").run()
    assert not app.exception
    assert not app.get("bidi_component")
    assert "Upload a photo" in _texts(app.info)
    app.radio(key="draw_input").set_value("Draw").run()
    assert app.get("bidi_component") and not app.get("metric")


def test_a_damaged_checkpoint_gives_a_clear_error(app, models_with_checkpoint):
    run = next(p for p in models_with_checkpoint.iterdir())
    (run / "weights.safetensors").write_bytes(b"not a safetensors file")
    open_page(app, "draw")
    errors = _texts(app.error)
    assert "cannot be used" in errors and "weights.safetensors" in errors
    assert not app.get("bidi_component")
