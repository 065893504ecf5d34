"""The Train page under AppTest: presets fill the controls, every control explains itself, Start trains."""
from conftest import open_page

from mnist_core.checkpoints import list_checkpoints
from mnist_core.recipes import RECIPES


def widgets(at):
    return [*at.selectbox, *at.slider, *at.select_slider, *at.toggle, *at.number_input, *at.button]


def test_every_control_has_help_and_every_preset_has_a_button(app, models_dir):
    at = open_page(app, "train")
    main = [w for w in widgets(at) if w.key and (w.key.startswith("train_") or w.key.startswith("recipe_"))]
    assert {f"recipe_{name}" for name in RECIPES} <= {w.key for w in main}
    assert {"train_start", "train_stop", "train_model", "train_epochs", "train_batch", "train_lr"} <= {w.key for w in main}
    assert all(w.help for w in main), [w.key for w in main if not w.help]
    assert at.button(key="train_stop").disabled  # nothing to stop yet


def test_preset_fills_the_controls(app, models_dir):
    at = open_page(app, "train")
    at.button(key="recipe_tutorial-mlp-sgd").click().run()
    assert at.selectbox(key="train_model").value == "mlp-128-64"
    assert at.slider(key="train_epochs").value == 15
    assert at.select_slider(key="train_batch").value == 64
    assert at.selectbox(key="train_optimizer").value == "sgd"
    assert "SGD 0.003" in " ".join(c.value for c in at.caption)


def test_start_trains_saves_and_shows_test_accuracy(app, models_dir):
    import ui

    at = open_page(app, "train")
    at.slider(key="train_epochs").set_value(2).run()
    at.slider(key="train_size").set_value(2000).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    job = ui.job_queue().get(at.session_state["train_job"])
    assert job is not None and job.config.epochs == 2 and job.config.train_size == 2000
    assert at.button(key="train_start").disabled  # one run per session at a time
    ui.job_queue().wait(job, 180)
    at.run()
    metric = next(m for m in at.metric if m.label == "Test accuracy")
    assert float(metric.value.rstrip("%")) > 80
    (saved,) = list_checkpoints(models_dir)
    assert saved.meta["config"]["epochs"] == 2 and saved.meta["dataset"]["n_train"] == 2000
    # the saved run is listed and can be overlaid on the accuracy chart
    at.multiselect(key="train_overlay").select(saved.run_id).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
