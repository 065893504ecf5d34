"""The Train page under AppTest: presets fill the controls, every control explains itself, Start trains."""

from conftest import open_page
from mnist_core.learning import knobs
from mnist_core.learning.recipes import RECIPES
from mnist_core.store.checkpoints import delete_checkpoint, list_checkpoints
from ui import controls


def widgets(at):
    return [*at.selectbox, *at.slider, *at.select_slider, *at.toggle, *at.number_input, *at.button]


def test_every_control_has_help_and_every_preset_has_a_button(app, models_dir):
    at = open_page(app, "train")
    main = [w for w in widgets(at) if w.key and (w.key.startswith("train_") or w.key.startswith("recipe_"))]
    assert {f"recipe_{name}" for name in RECIPES} <= {w.key for w in main}
    assert {"train_start", "train_stop", "train_model", "train_epochs", "train_batch", "train_lr"} <= {
        w.key for w in main
    }
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


def test_the_recipe_buttons_show_plain_names_in_full(app, models_dir):
    """Each preset's button reads as its title (not a slug), with its description on hover and, once
    clicked, under the buttons."""
    at = open_page(app, "train")
    buttons = {b.key.removeprefix("recipe_"): b for b in at.button if b.key and b.key.startswith("recipe_")}
    assert {slug: b.label for slug, b in buttons.items()} == {slug: r.title for slug, r in RECIPES.items()}
    assert all(b.help == RECIPES[slug].description for slug, b in buttons.items())
    at.button(key="recipe_tutorial-cnn-pooled").click().run()
    caption = " ".join(c.value for c in at.caption)
    assert "Tutorial pooled CNN" in caption and "no code" in caption
    assert at.selectbox(key="train_model").value == "cnn-pooled-4x"


LINK = {
    "recipe": "tutorial-cnn-small",
    "model": "mlp-128-64",
    "epochs": "7",
    "batch_size": "15",
    "lr": "0.0003",
    "optimizer": "sgd",
    "train_size": "1500",
    "augment": "1",
    "seed": "12345",
}  # every knob, none at its preset


def test_every_knob_survives_the_address_and_a_recipe_keeps_the_learners_own(app, models_dir):
    assert set(LINK) == {k.name for k in knobs.KNOBS}  # a new knob must be added to this link too
    assert set(controls.CONTROLS) == set(LINK)  # and the page must give it a control
    app.query_params.update(LINK)
    at = open_page(app, "train")
    assert not at.warning
    control = {
        "select": at.selectbox,
        "slider": at.slider,
        "stops": at.select_slider,
        "toggle": at.toggle,
        "number": at.number_input,
    }
    limits = knobs.Limits(500, 4000)
    for knob in knobs.KNOBS:
        if knob is not knobs.RECIPE:
            assert control[knob.widget](key=controls.key(knob)).value == knob.read(LINK[knob.name], limits), knob.name
    assert {k: at.query_params[k] for k in LINK} == LINK  # written back exactly as the link had it
    at.button(key="recipe_fast").click().run()
    assert at.selectbox(key="train_model").value == "fast-strided" and at.slider(key="train_epochs").value == 10
    assert at.number_input(key="train_seed").value == 12345 and at.slider(key="train_size").value == 1500
    assert at.query_params["recipe"] == "fast" and at.query_params["seed"] == "12345"


def test_start_trains_saves_and_shows_test_accuracy(app, models_dir):
    from ui import runs

    at = open_page(app, "train")
    at.slider(key="train_epochs").set_value(2).run()
    at.slider(key="train_size").set_value(2000).run()
    at.button(key="train_start").click().run()
    assert not at.exception
    job = runs.job_queue().get(at.session_state["train_job"])
    assert job is not None and job.config.epochs == 2 and job.config.train_size == 2000
    assert at.button(key="train_start").disabled  # one run per session at a time
    runs.job_queue().wait(job, 180)
    at.run()
    metric = next(m for m in at.metric if m.label == "Test accuracy")
    assert float(metric.value.rstrip("%")) > 80
    (saved,) = list_checkpoints(models_dir)
    assert saved.meta["config"]["epochs"] == 2 and saved.meta["dataset"]["n_train"] == 2000
    # the saved run is listed and can be overlaid on the accuracy chart
    at.multiselect(key="train_overlay").select(saved.run_id).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2
    # The overlaid model is deleted (on Evaluate): the page drops it from the comparison instead of failing.
    delete_checkpoint(saved.path)
    at.run()
    assert not at.exception and at.multiselect(key="train_overlay").value == []


def test_a_shared_link_sets_the_controls_and_the_address_keeps_them(app, models_dir):
    app.query_params.update(recipe="tutorial-mlp-sgd", epochs="4", batch_size="32", augment="1")
    at = open_page(app, "train")
    assert at.selectbox(key="train_model").value == "mlp-128-64"  # from the recipe
    assert at.slider(key="train_epochs").value == 4 and at.select_slider(key="train_batch").value == 32
    assert at.toggle(key="train_augment").value is True
    assert not at.warning
    at.slider(key="train_epochs").set_value(6).run()
    assert at.query_params["epochs"] == "6" and at.query_params["model"] == "mlp-128-64"


def test_a_link_with_values_out_of_range_says_what_is_allowed(app, models_dir):
    app.query_params.update(epochs="500", lr="7", batch_size="64")
    at = open_page(app, "train")
    warning = " ".join(w.value for w in at.warning)
    assert "epochs='500' was ignored: must be between 1 and 30" in warning and "lr='7'" in warning
    assert at.slider(key="train_epochs").value == 10  # the preset's value instead
    assert at.select_slider(key="train_batch").value == 64  # the good value in the same link is used


def test_a_link_to_a_run_the_server_no_longer_has(app, models_dir):
    app.query_params["run"] = "20260101-000000-gone"
    at = open_page(app, "train")
    assert "not on this server any more" in " ".join(w.value for w in at.warning)
    assert "run" not in at.query_params


def test_an_unreachable_cluster_is_said_on_start_and_the_other_pages_keep_working(
    app, models_dir, monkeypatch, tmp_path
):
    from mnist_core.classroom.keys import make_keys

    make_keys(tmp_path)
    monkeypatch.setenv("DIGIT_LAB_CLUSTER", "tls://127.0.0.1:9")  # nothing listens on the discard port
    monkeypatch.setenv("DIGIT_LAB_CLUSTER_KEYS", str(tmp_path))
    monkeypatch.setattr("mnist_core.classroom.jobs._shared", None)  # this process's cluster, as on a fresh server
    monkeypatch.setattr("mnist_core.classroom.cluster.CONNECT_TIMEOUT_S", 2)
    at = open_page(app, "train")
    assert "the Dask cluster at tls://127.0.0.1:9" in " ".join(c.value for c in at.caption)
    at.button(key="train_start").click().run()
    assert not at.exception
    error = " ".join(e.value for e in at.error)
    assert "Cannot start: cannot reach the Dask cluster at tls://127.0.0.1:9 (DIGIT_LAB_CLUSTER)" in error
    assert not at.button(key="train_start").disabled  # nothing is running: the learner may try again
    for page in ("explore", "evaluate", "draw"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception and not at.error, page
        assert at.title, page


def test_on_a_shared_server_a_runs_link_shows_it_to_others_read_only(app, models_dir, shared, sample, monkeypatch):
    """Another student who opens a run's link sees it, whose it is and its settings, with no Stop, and may start
    their own; its owner (the same browser) gets Stop back, and the engine refuses the others' Stop too."""
    from streamlit.testing.v1 import AppTest

    from conftest import REPO
    from mnist_core.classroom.jobs import Job, JobQueue, Status
    from mnist_core.learning.recipes import recipe_config
    from mnist_core.store.owners import browser_id
    from ui import runs

    monkeypatch.setattr(JobQueue, "warm", lambda self: None)  # no cluster: the run below waits, never sent
    app.run()
    job = Job(recipe_config("fast", epochs=7), sample, owner=browser_id("alice's browser"), owner_name="Alice *A*")
    runs.job_queue()._jobs[job.id] = job
    link = {"run": job.id, "epochs": "7", "recipe": "fast"}

    other = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    other.session_state["dataset"] = "mnist-sample"
    other.query_params.update(link)
    at = open_page(other, "train")
    assert not any(b.key == "train_stop" for b in at.button)  # no Stop to press
    assert not at.button(key="train_start").disabled  # their own Start is free
    info = " ".join(i.value for i in at.info)
    assert "This is Alice \\*A\\*'s run: you can watch it here" in info  # the typed name shown as written
    assert "number 1 in line" in info and "yours is" not in info
    assert at.slider(key="train_epochs").value == 7  # the link's settings
    assert "Shared server: each student's runs and models are their own." in " ".join(c.value for c in at.caption)
    assert "train_job" not in at.session_state  # not adopted: other pages do not carry its ?run=

    owner = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=120)
    owner.session_state["dataset"] = "mnist-sample"
    owner.session_state["browser_secret"] = "alice's browser"  # Alice's own browser, in another tab
    owner.query_params.update(link)
    at = open_page(owner, "train")
    assert at.button(key="train_start").disabled and not at.button(key="train_stop").disabled
    at.button(key="train_stop").click().run()
    assert not at.exception and job.status == Status.STOPPED


def test_a_lab_cluster_without_tls_is_refused_on_start_with_how_to_make_keys(app, models_dir, monkeypatch):
    monkeypatch.setenv("DIGIT_LAB_CLUSTER", "tcp://127.0.0.1:9")
    monkeypatch.setattr("mnist_core.classroom.jobs._shared", None)
    at = open_page(app, "train")
    at.button(key="train_start").click().run()
    assert not at.exception
    error = " ".join(e.value for e in at.error)
    assert "Cannot start: DIGIT_LAB_CLUSTER must be a tls:// address, not tcp://127.0.0.1:9" in error
    assert "python -m mnist_core cluster-keys DIR" in error
    assert not at.button(key="train_start").disabled
