"""Lesson: testing, evaluating and saving a model (tutorial 002 steps 6-7, tutorial 004)."""

from __future__ import annotations

import streamlit as st

from mnist_core.data.sources import subsample
from mnist_core.i18n import N_, _
from mnist_core.learning.recipes import recipe_config
from mnist_core.runs.train import split_for_run, train_and_save
from mnist_core.store.checkpoints import (
    CheckpointError,
    OwnerRecord,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from ui import identity, pictures
from ui.evaluation import checkpoint_label
from ui.learn import view
from ui.learn.data import lesson_source
from ui.learn.lesson import Guess, Lesson, Step

MODEL = "testing-1-model"  # what step 1 trained or picked, for the steps after it
SCORES = "testing-2-scores"  # step 2's evaluation of it, for the mistakes of step 3
QUICK = dict(train_size=3000, val_size=0, cpu_threads=1)  # tutorial 002's network and its 15 epochs, in seconds
OWN = (N_("Train a small one here"), N_("Use a saved model"))
PAGE = "app_pages/learn.py"


def quick_config():
    return recipe_config("tutorial-mlp-sgd", **QUICK)


def _need_model() -> dict | None:
    held = st.session_state.get(MODEL)
    if held is None:
        st.info(_("There is no model to test yet: train one (or pick a saved one) in step 1."), icon=":material/info:")
        st.page_link(
            PAGE, label=_("Go to step 1"), icon=":material/arrow_back:", query_params={"lesson": "testing", "step": "1"}
        )
    return held


def train_or_pick(key: str) -> None:
    way = st.radio(_("Which model"), OWN, key=f"{key}-way", format_func=_, horizontal=True)
    if way == OWN[1]:
        saved = {c.run_id: c for c in list_checkpoints()}
        if not saved:
            st.info(_("There is no saved model yet: train a small one here instead."), icon=":material/info:")
            return
        run_id = st.selectbox(
            _("Saved model"), list(saved), key=f"{key}-saved", format_func=lambda r: checkpoint_label(saved[r])
        )
        held = st.session_state.get(MODEL)
        if held is None or held.get("run_id") != run_id:
            try:
                model, ckpt = load_checkpoint(saved[run_id].path)
            except CheckpointError as e:
                st.error(_("This saved model cannot be used: {reason}").format(reason=e))
                return
            st.session_state[MODEL] = {"model": model, "config": ckpt.config, "record": ckpt.record, "run_id": run_id}
            st.session_state.pop(SCORES, None)
        st.success(
            _("Picked **{name}**: test it in the next step.").format(name=saved[run_id].name), icon=":material/check:"
        )
        return
    config = quick_config()
    st.caption(
        _("Tutorial 002's network (784-128-64-10, SGD with momentum), {epochs} epochs on {n:,} images.").format(
            epochs=config.epochs, n=config.train_size
        )
    )
    row = st.container(horizontal=True)
    start = row.button(_("Train"), key=f"{key}-train", type="primary", icon=":material/play_arrow:")
    row.button(_("Stop"), key=f"{key}-stop", icon=":material/stop:", disabled=not start)
    progress = st.empty()
    view.code_behind(config, f"{key}-code")
    if start:
        st.session_state.pop(MODEL, None)
        st.session_state.pop(SCORES, None)

        def on_event(event):
            if event.kind == "step" and event.total_steps:
                progress.progress(
                    event.step / event.total_steps,
                    text=_("Training: epoch {n} of {total}").format(n=event.epoch, total=event.epochs),
                )

        source = lesson_source()
        outcome = train_and_save(config, source, source.training_split, on_event=on_event, save=False)
        progress.empty()
        st.session_state[MODEL] = {
            "model": outcome.result.model,
            "config": config,
            "record": outcome.record,
            "run_id": None,
            "seconds": outcome.result.seconds,
        }
        st.rerun()  # drawn again from what is kept, with Stop back to disabled
    held = st.session_state.get(MODEL)
    if held is not None and held["run_id"] is None:
        st.success(
            _("Trained in {seconds:.1f} s. Next: how good is it?").format(seconds=held["seconds"]),
            icon=":material/check:",
        )


def scores(held: dict) -> dict:
    """The model scored by the engine on the images it trained on and on the held-out test images."""
    from mnist_core.learning.evaluation import evaluate  # noqa: PLC0415 (it loads scikit-learn: only when needed)

    kept = st.session_state.get(SCORES)
    if kept is not None:
        return kept
    config, source = held["config"], lesson_source()
    data = split_for_run(source, source.training_split, config.seed)
    seen = subsample(subsample(data.train, config.train_size, config.seed), 3000, 0)  # its own images, a few
    kept = st.session_state[SCORES] = {
        "train": evaluate(held["model"], seen, config, "cpu"),
        "test": evaluate(held["model"], data.held_out, config, "cpu"),
        "held_out": data.held_out,
    }
    return kept


def test_it(key: str) -> None:
    if (held := _need_model()) is None:
        return
    s = scores(held)
    left, right = st.columns(2)
    left.metric(
        _("On images it trained on"),
        f"{s['train'].accuracy:.1%}",
        help=_("{n:,} of its own training images").format(n=s["train"].n),
    )
    right.metric(
        _("On the test images"),
        f"{s['test'].accuracy:.1%}",
        delta=f"{(s['test'].accuracy - s['train'].accuracy) * 100:+.1f}",
        help=_("{n:,} images it never saw").format(n=s["test"].n),
    )
    st.caption(_("Only the test images say how it will read digits it has never seen, such as yours."))


def mistakes(key: str) -> None:
    if (held := _need_model()) is None:
        return
    s = scores(held)
    report, images = s["test"], s["held_out"].images
    wrong = report.mistakes()[:8]
    st.markdown(
        _("It read **{n:,}** of {total:,} test images wrong. The ones it was surest about:").format(
            n=int((report.labels != report.predictions).sum()), total=report.n
        )
    )
    for row in range(0, len(wrong), 4):
        cols = st.columns(4)
        for col, i in zip(cols, wrong[row : row + 4]):
            caption = _("a {label}, read as {predicted} ({p:.0%})").format(
                label=int(report.labels[i]), predicted=int(report.predictions[i]), p=float(report.confidence[i])
            )
            col.image(pictures.ink_picture(images[i].numpy(), 84), caption=caption, alt=caption)


def save_it(key: str) -> None:
    if (held := _need_model()) is None:
        return
    if held["run_id"] is not None:
        st.success(_("This model is saved already: find it on Evaluate and Draw (next step)."), icon=":material/save:")
        _preselect(held["run_id"])
        return
    name = st.text_input(_("Name"), _("My tested model"), key=f"{key}-name", max_chars=80)
    if st.button(_("Save the model"), key=f"{key}-save", type="primary", icon=":material/save:"):
        me = identity.person()
        record = held["record"].model_copy(update={"owner": OwnerRecord(me.id, me.name), "name": name.strip() or None})
        try:
            path = save_checkpoint(held["model"], record)
        except CheckpointError as e:
            st.error(_("Could not save it: {reason}").format(reason=e))
            return
        held["run_id"] = path.name
        _preselect(path.name)
        st.session_state[f"{key}-saved"] = path.name
    if (saved := st.session_state.get(f"{key}-saved")) is not None:
        by_id = {c.run_id: c for c in list_checkpoints()}
        if saved in by_id:
            st.success(
                _("Saved as **{name}**: its weights and its settings, in the models folder.").format(
                    name=by_id[saved].name
                ),
                icon=":material/check:",
            )


def _preselect(run_id: str) -> None:
    """Evaluate's and Draw's model pickers open on this model (they read these keys)."""
    st.session_state["eval_model"] = run_id
    st.session_state["draw_model"] = run_id


def find_it(key: str) -> None:
    me = identity.person()
    mine = [c for c in list_checkpoints() if c.record.owner is not None and c.record.owner.id == me.id]
    if not mine:
        st.info(_("You have not saved a model yet: save one in step 4."), icon=":material/info:")
        return
    by_id = {c.run_id: c for c in mine}
    held = st.session_state.get(MODEL) or {}
    if held.get("run_id") in by_id:
        st.session_state.setdefault(f"{key}-model", held["run_id"])
    run_id = st.selectbox(
        _("Your saved models"), list(by_id), key=f"{key}-model", format_func=lambda r: checkpoint_label(by_id[r])
    )
    _preselect(run_id)
    st.page_link(
        "app_pages/evaluate.py",
        label=_("Evaluate it: every test image, the confusion matrix"),
        icon=":material/fact_check:",
    )
    st.page_link("app_pages/draw.py", label=_("Draw a digit for it to read"), icon=":material/draw:")


LESSON = Lesson(
    slug="testing",
    title=N_("Testing, evaluating and saving a model"),
    summary=N_("Score a model on images it never saw, look at its mistakes, and keep it."),
    tutorials=("002", "004"),
    recipe="tutorial-mlp-sgd",
    steps=(
        Step(
            title=N_("A model to test"),
            text=N_(
                "Before a model can be tested it has to be trained: here tutorial 002's network and settings, on "
                "3,000 images instead of its 60,000. Or pick a model you saved before."
            ),
            widget=train_or_pick,
        ),
        Step(
            title=N_("Score it on the test set"),
            text=N_(
                "Testing means scoring the model on images it never saw while training: the test set. "
                "Its score on its own training images says little, since it may have learned them by heart."
            ),
            widget=test_it,
            guess=Guess(
                question=N_(
                    "The model scores 99% on the images it trained on. Will it score the same on the test set?"
                ),
                choices=(N_("Yes, the same"), N_("No, lower"), N_("No, higher")),
                answer=1,
                why=N_("New images are harder than ones it has already seen, so the test score is lower."),
            ),
        ),
        Step(
            title=N_("Look at its mistakes"),
            text=N_(
                "A score is one number; the mistakes behind it say more. These are test images it read wrong "
                "while being most sure of itself: some are badly written, some show what it has not learned."
            ),
            widget=mistakes,
            alt=N_("Test images the model read wrong, each with its label and the digit the model read."),
        ),
        Step(
            title=N_("Save it"),
            text=N_(
                "Saving writes the model's weights and its settings to a file, as tutorial 004's torch.save does, "
                "so it can be used later without training again. Digit Lab also keeps its test score and who "
                "made it."
            ),
            widget=save_it,
        ),
        Step(
            title=N_("Find it on Evaluate and Draw"),
            text=N_(
                "A saved model shows up wherever the app lists models. On Evaluate, see every test image and which "
                "digits it mixes up; on Draw, write a digit and watch it read yours."
            ),
            widget=find_it,
        ),
    ),
)
