"""The Inside page in AppTest: arriving from Draw and from Evaluate, the five sections, the fooling sliders, the
robustness curves, and what a missing or damaged model shows. Drawing and uploading need a real browser: see
test_browser_inside.py."""

import time

import numpy as np
from PIL import Image

from conftest import open_page
from mnist_core.insight import explain as ex
from mnist_core.store.checkpoints import list_checkpoints, load_checkpoint

SECTIONS = [
    "1 · From your drawing",
    "2 · Layer by layer",
    "3 · Why this answer?",
    "4 · Try to fool it",
    "5 · How robust is this model?",
]


def _texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def _subheaders(at) -> list[str]:
    return [s.value for s in at.subheader]


def drawing(sample, index: int = 0) -> np.ndarray:
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = 255
    big = np.asarray(Image.fromarray(sample.test.images[index].numpy()).resize((160, 160), Image.BILINEAR))
    rgba[60:220, 40:200, :3] = big[..., None]
    return rgba


def from_draw(app, sample, index: int = 0):
    """What Draw's "Look inside" link does: the drawing in the session, the address naming where it came from."""
    app.session_state["inside_drawing"] = drawing(sample, index)
    app.query_params["from"] = "draw"
    return open_page(app, "inside")


def test_without_a_saved_model_the_page_points_to_training(app, models_dir):
    open_page(app, "inside")
    assert "no saved model yet" in _texts(app.info)
    assert not app.subheader


def test_a_drawing_from_draw_shows_all_five_sections(app, models_with_checkpoint, sample):
    from_draw(app, sample, 0)
    assert app.radio(key="inside_input").value == "Your drawing"
    assert [h.split(" ", 3)[:3] for h in _subheaders(app)] == [s.split(" ", 3)[:3] for s in SECTIONS]
    label = int(sample.test.labels[0])
    assert f"Final answer: {label}" in " ".join(c.proto.spec for c in app.get("plotly_chart"))
    captions = " ".join(c for img in app.image for c in (img.captions or []) if c)
    assert "Shrunk so its longest side is 20 pixels" in captions and "Squashed to 28×28" in captions
    assert captions.count("%)") >= 6, "three digits' heatmaps for each of the two methods"
    assert app.metric[0].label == "It reads" and app.metric[0].value == str(label)
    assert "from" not in app.query_params, "the link's address is applied once, then cleared"


def test_a_blank_drawing_gets_a_message_not_sections(app, models_with_checkpoint):
    blank = np.zeros((280, 280, 4), np.uint8)
    blank[..., 3] = 255
    app.session_state["inside_drawing"] = blank
    app.query_params["from"] = "draw"
    open_page(app, "inside")
    assert "No digit found" in _texts(app.info)
    assert not app.subheader


def test_no_drawing_yet_sends_the_learner_to_draw(app, models_with_checkpoint):
    open_page(app, "inside")
    app.radio(key="inside_input").set_value("Your drawing").run()
    assert not app.exception
    assert "Draw a digit on the Draw page first" in _texts(app.info)


def test_an_evaluate_link_opens_that_dataset_image(app, models_with_checkpoint, sample):
    run_id = next(p.name for p in models_with_checkpoint.iterdir())
    app.query_params.update({"image": "17", "split": "test", "model": run_id})
    open_page(app, "inside")
    assert app.radio(key="inside_input").value == "A dataset image"
    assert app.number_input(key="inside_index").value == 17
    assert f"labelled **{int(sample.test.labels[17])}**" in _texts(app.caption)
    assert _subheaders(app)[0].startswith("2 ·"), "a dataset image is already 28x28: no preprocessing strip"


def test_the_sliders_change_what_the_model_reads(app, models_with_checkpoint, sample):
    from_draw(app, sample, 0)
    settings = ex.Tweak(shift_x=8, rotate=60, thickness=2)
    app.slider(key="inside_dx").set_value(settings.shift_x)
    app.slider(key="inside_turn").set_value(settings.rotate)
    app.slider(key="inside_thick").set_value(settings.thickness).run()
    assert not app.exception
    model, ckpt = load_checkpoint(next(models_with_checkpoint.iterdir()))
    explainer = ex.Explainer(model, ckpt.config)
    expected = explainer.probabilities(ex.tweak(explainer.look(drawing(sample, 0)).image28, settings))
    assert app.metric[0].value == str(int(expected.argmax()))
    assert app.metric[0].delta == f"{expected.max():.0%} sure"
    app.button(key="inside_play_reset").click().run()
    assert app.slider(key="inside_dx").value == 0 and app.slider(key="inside_turn").value == 0


def until_measured(app, timeout: float = 120) -> str:
    """The charts' specs once the robustness curves, measured in the background, are drawn (the page polls them)."""
    deadline = time.time() + timeout
    while True:
        specs = " ".join(c.proto.spec for c in app.get("plotly_chart"))
        if "Accuracy as the digits are moved" in specs or time.time() > deadline:
            return specs
        progress = [p.proto.text for p in app.get("progress")]
        assert progress and "Moving and turning the test images" in progress[0], progress
        time.sleep(0.5)
        app.run()
        assert not app.exception, [e.value for e in app.exception]


def test_robustness_is_measured_on_request_and_kept(app, models_with_checkpoint, sample):
    from_draw(app, sample, 0)
    assert app.multiselect(key="inside_robust_models").value == [list_checkpoints()[0].run_id]
    assert not [c for c in app.get("plotly_chart") if "moved" in c.proto.spec]
    app.button(key="inside_measure").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert "inside_measure" not in [b.key for b in app.button], "measuring: the button gives way to its progress"
    specs = until_measured(app)
    assert "Accuracy as the digits are moved" in specs and "Accuracy as the digits are turned" in specs
    app.run()  # measured once: the next run shows the curves without the button
    assert "inside_measure" not in [b.key for b in app.button]
    assert "Accuracy as the digits are moved" in " ".join(c.proto.spec for c in app.get("plotly_chart"))


def test_dream_digits_and_favourite_strokes_come_on_request_without_a_drawing(app, models_with_checkpoint):
    open_page(app, "inside")  # no drawing yet: the dreams need none
    assert not [i for i in app.image if "as this network imagines" in (i.proto.imgs[0].alt or "")]
    app.button(key="inside_dream_digits").click().run()
    assert not app.exception, [e.value for e in app.exception]
    [strip] = [i for i in app.image if "as this network imagines" in (i.proto.imgs[0].alt or "")]
    caption = _texts(app.caption)
    assert all(f"{d}: " in caption for d in range(10)) and "sure" in caption
    layers = app.selectbox(key="inside_dream_layer")
    assert layers.options and all("channels" in option for option in layers.options)
    app.button(key="inside_dream_channels").click().run()
    assert not app.exception, [e.value for e in app.exception]
    assert [i for i in app.image if "responds to most" in (i.proto.imgs[0].alt or "")]
    app.run()  # kept: drawn again from the server's cache, no button press needed
    assert [i for i in app.image if "as this network imagines" in (i.proto.imgs[0].alt or "")]


def test_every_control_explains_itself(app, models_with_checkpoint, sample):
    from_draw(app, sample, 0)
    controls = [
        app.selectbox(key="inside_model"),
        app.radio(key="inside_input"),
        app.multiselect(key="inside_robust_models"),
        app.button(key="inside_measure"),
        app.button(key="inside_play_reset"),
        app.button(key="inside_dream_digits"),
        app.button(key="inside_dream_channels"),
        app.selectbox(key="inside_dream_layer"),
        *app.slider,
    ]
    for control in controls:
        assert control.help, f"{control.key} has no help text"


def test_a_damaged_checkpoint_gives_the_same_clear_error_as_draw(app, models_with_checkpoint, sample):
    run = next(p for p in models_with_checkpoint.iterdir())
    (run / "weights.safetensors").write_bytes(b"not a safetensors file")
    from_draw(app, sample, 0)
    errors = _texts(app.error)
    assert "This saved model cannot be used" in errors and "weights.safetensors" in errors
    assert not app.subheader
