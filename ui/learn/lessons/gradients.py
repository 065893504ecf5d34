"""Lesson: gradients and an optimizer change the weights (tutorials 000 and 004 on autograd, 002's gradient before and
after backward() and its SGD with momentum, 001 and 003's Adam)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from mnist_core.i18n import N_, _
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.recipes import recipe_config
from mnist_core.lessons.configs import lesson_config
from mnist_core.lessons.stepper import DIVERGE_FACTOR, Stepper, StepResult, diverged_at
from ui import charts, pictures
from ui.learn import view
from ui.learn.data import learning_split
from ui.learn.lesson import Guess, Lesson, Step

RATES = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # a log scale of learning rates


def step_config(**fields) -> TrainConfig:
    """The one-step-at-a-time runs: one layer 784-10, plain SGD, batches of 16 from 2,000 images."""
    return lesson_config(**{"batch_size": 16, "val_size": 0, **fields})


def batch_picture(images: np.ndarray) -> np.ndarray:
    """Dark ink on white paper, as the digits were written."""
    ink = (255 - images)[..., None].repeat(3, -1)
    return pictures.tile(ink, columns=8, zoom=2)


def weight_pictures(values: np.ndarray, rows: int = 10, columns: int = 5) -> np.ndarray:
    """The first `rows` units' 784 weights (or gradients) as 28x28 pictures: red positive, blue negative."""
    v = values[:rows].reshape(-1, 28, 28)
    return pictures.tile(pictures.signed_colours(v), columns=columns, zoom=3)


def rate_label(lr: float) -> str:
    return f"{lr:g}"


def before_and_after_backward(key: str) -> None:
    config = recipe_config("tutorial-mlp-sgd", train_size=2000, val_size=0, cpu_threads=1, device="cpu", epochs=1)
    state = f"{key}-after"
    stepper = Stepper(config, learning_split())
    st.markdown(_("Before `loss.backward()`, the first layer's gradient is:"))
    st.code(f"model[0].weight.grad  ->  {stepper.grad}", language="python")
    with st.container(horizontal=True):
        if st.button(_("Run loss.backward()"), type="primary", key=f"{key}-backward"):
            batch = stepper.next_batch()
            loss = float(stepper.backward(batch))
            st.session_state[state] = (loss, stepper.grad.detach().numpy().copy(), batch.labels)
        if st.button(_("Start again"), key=f"{key}-reset"):
            st.session_state.pop(state, None)
    if state not in st.session_state:
        st.caption(_("Press the button: the network reads a batch of 64 digits, and backward() fills the gradient."))
        return
    loss, grad, labels = st.session_state[state]
    st.markdown(
        _("After it, on a batch of {n} digits (loss {loss:.3f}): {rows} x {columns} numbers, one per weight.").format(
            n=len(labels), loss=loss, rows=grad.shape[0], columns=grad.shape[1]
        )
    )
    st.code(
        f"model[0].weight.grad[:3, 150:154]  ->\n{np.array2string(grad[:3, 150:154], precision=4)}", language="python"
    )
    st.image(
        weight_pictures(grad, rows=8, columns=4),
        caption=_("The gradient of the first 8 of the layer's {n} units, one 28 x 28 picture each").format(
            n=grad.shape[0]
        ),
        alt=_("Eight pictures of the gradient: red where a weight should shrink, blue where it should grow."),
    )
    view.code_behind(config, f"{key}-code")


def one_update(key: str) -> None:
    lr = st.select_slider(_("Learning rate"), RATES[:9], value=0.1, format_func=rate_label, key=f"{key}-lr")
    config = step_config(lr=lr)
    state = f"{key}-result"
    if st.button(_("Take one step"), type="primary", key=f"{key}-step"):
        st.session_state[state] = Stepper(config, learning_split()).step()
    result: StepResult | None = st.session_state.get(state)
    if result is None:
        st.caption(_("Press the button: one batch, its gradient, and SGD's change to every weight."))
        return
    top = np.argsort(-np.abs(result.grad).ravel())[:5]
    digit, pixel = np.unravel_index(top, result.grad.shape)
    table = pd.DataFrame(
        {
            _("digit"): digit,
            _("pixel (row, column)"): [f"({p // 28}, {p % 28})" for p in pixel],
            _("weight before"): result.before.ravel()[top],
            _("gradient"): result.grad.ravel()[top],
            _("− learning rate × gradient"): -result.lr * result.grad.ravel()[top],
            _("weight after"): result.after.ravel()[top],
        }
    )
    st.dataframe(table, hide_index=True, key=f"{key}-table")
    gap = float(np.abs(result.change - (-result.lr * result.grad)).max())
    st.caption(
        _(
            "The five weights with the largest gradients, at learning rate {lr}. Over all {n:,} weights, the change "
            "differs from − learning rate × gradient by at most {gap:.1e}: rounding."
        ).format(lr=rate_label(result.lr), n=result.grad.size, gap=gap)
    )
    view.code_behind(config, f"{key}-code")


def loss_chart(series: list[tuple[str, list[float]]], title: str) -> go.Figure:
    fig = go.Figure()
    for i, (name, losses) in enumerate(series):
        fig.add_scatter(
            x=list(range(1, len(losses) + 1)),
            y=[x if np.isfinite(x) else None for x in losses],
            name=name,
            mode="lines+markers",
            line=dict(color=charts.PALETTE[i], dash=("solid", "dash", "dot")[i % 3]),
            marker=dict(symbol=charts.SYMBOLS[i], size=5),
        )
    finite = [x for _name, losses in series for x in losses if np.isfinite(x) and x > 0]
    log = bool(finite) and max(finite) > 20 * min(finite)
    if log:
        # A diverging loss grows by factors: on a log scale (ticks at 1, 10, 100) the calm steps stay readable.
        fig.update_yaxes(type="log", dtick=1)
    if max(len(losses) for _name, losses in series) <= 10:
        fig.update_xaxes(dtick=1)  # steps are whole numbers
    return charts.style(fig, title, _("step"), _("loss (log scale)") if log else _("loss"))


def divergence_note(losses: list[float]) -> None:
    at = diverged_at(losses)
    if at is None:
        return
    st.error(
        _(
            "Diverged at step {step}: the loss became {loss:.3g}, more than {factor:g} times the first step's "
            "{first:.3g} (or not a number at all). The steps are so big that each one overshoots: try a smaller "
            "learning rate, and press Start again."
        ).format(step=at, loss=losses[at - 1], factor=DIVERGE_FACTOR, first=losses[0]),
        icon=":material/trending_up:",
    )


def step_by_step(key: str) -> None:
    lr = st.select_slider(
        _("Learning rate"),
        RATES,
        value=0.01,
        format_func=rate_label,
        key=f"{key}-lr",
        help=_("How big each correction is. From 0.0001 to 10, each stop about 3 times the one before."),
    )
    state = f"{key}-stepper"
    with st.container(horizontal=True):
        step = st.button(_("Step"), type="primary", icon=":material/skip_next:", key=f"{key}-step")
        ten = st.button(_("10 steps"), icon=":material/fast_forward:", key=f"{key}-ten")
        if st.button(_("Start again"), icon=":material/restart_alt:", key=f"{key}-reset"):
            st.session_state.pop(state, None)
    if state not in st.session_state:
        st.session_state[state] = (Stepper(step_config(lr=lr), learning_split()), None)
    stepper, result = st.session_state[state]
    if step or ten:
        stepper.set_lr(lr)
        for _i in range(10 if ten else 1):
            result = stepper.step()
        st.session_state[state] = (stepper, result)
    if result is None:
        st.caption(_("Press Step: the network reads the next batch of 16 digits and corrects its weights once."))
        view.code_behind(stepper.config, f"{key}-code")
        return
    with st.container(horizontal=True):
        st.metric(_("Steps taken"), result.step)
        previous = stepper.losses[-2] if len(stepper.losses) > 1 else None
        st.metric(
            _("Loss on this batch"),
            f"{result.loss:.3f}",
            delta=None if previous is None else f"{result.loss - previous:+.3f}",
            delta_color="inverse",
        )
        st.metric(_("Learning rate"), rate_label(result.lr))
    divergence_note(stepper.losses)
    st.image(
        batch_picture(result.images),
        caption=_("This step's batch; its labels: {labels}").format(labels=" ".join(map(str, result.labels))),
        alt=_("The 16 handwritten digits of this step's batch."),
    )
    st.plotly_chart(
        loss_chart([(_("loss"), stepper.losses)], _("The loss of every step so far")),
        key=f"{key}-losses",
        config={"displayModeBar": False},
        alt=_("The loss of each step so far."),
    )
    gradient, weights, change = st.tabs([_("Gradient"), _("Weights now"), _("Change")])
    with gradient:
        st.image(
            weight_pictures(result.grad),
            caption=_("The gradient of each digit's 784 weights, digits 0 to 9 (largest {top:.2g})").format(
                top=float(np.abs(result.grad).max())
            ),
            alt=_("Ten gradient pictures, one per digit: red where a weight should shrink, blue where it should grow."),
        )
    with weights:
        st.image(
            weight_pictures(result.after),
            caption=_("Each digit's 784 weights after this step: red adds to the digit's score, blue takes away"),
            alt=_("Ten pictures of the weights, one per digit 0 to 9."),
        )
    with change:
        st.image(
            weight_pictures(result.change),
            caption=_("What this step changed (largest {top:.2g}): the gradient times − the learning rate").format(
                top=float(np.abs(result.change).max())
            ),
            alt=_("Ten pictures of this step's change to each digit's weights."),
        )
    view.code_behind(stepper.config, f"{key}-code")


def hundred_times(key: str) -> None:
    lr = st.select_slider(_("Learning rate"), RATES[:7], value=0.01, format_func=rate_label, key=f"{key}-lr")
    state = f"{key}-losses"
    configs = [step_config(lr=lr), step_config(lr=lr * 100)]
    if st.button(_("Take 30 steps with both"), type="primary", key=f"{key}-run"):
        split = learning_split()
        st.session_state[state] = [(c.lr, Stepper(c, split).run(30)) for c in configs]
    runs = st.session_state.get(state)
    if runs is None:
        st.caption(_("Both start from the same weights and read the same 30 batches."))
        return
    st.plotly_chart(
        loss_chart(
            [(_("learning rate {lr}").format(lr=rate_label(r)), losses) for r, losses in runs],
            _("The same 30 batches at two learning rates"),
        ),
        key=f"{key}-chart",
        config={"displayModeBar": False},
        alt=_("The loss of each of 30 steps at two learning rates."),
    )
    for r, losses in runs:
        at = diverged_at(losses)
        if at is None:
            st.success(
                _("Learning rate {lr}: the loss went from {first:.3f} to {last:.3f}; no divergence.").format(
                    lr=rate_label(r), first=losses[0], last=losses[-1]
                )
            )
        else:
            st.error(
                _(
                    "Learning rate {lr}: diverged at step {step} (loss {loss:.3g}, past {factor:g} times the first)."
                ).format(lr=rate_label(r), step=at, loss=losses[at - 1], factor=DIVERGE_FACTOR)
            )
    for i, c in enumerate(configs):
        view.code_behind(c, f"{key}-code-{i}")


OPTIMIZERS = (
    (N_("SGD"), dict(optimizer="sgd", momentum=0.0, lr=0.01)),
    (N_("SGD with momentum 0.9"), dict(optimizer="sgd", momentum=0.9, lr=0.01)),
    (N_("Adam"), dict(optimizer="adam", lr=0.001)),
)


def three_optimizers(key: str) -> None:
    steps = 60
    state = f"{key}-losses"
    configs = [step_config(model="mlp-64", batch_size=32, **fields) for _name, fields in OPTIMIZERS]
    if st.button(_("Train the three for {n} steps").format(n=steps), type="primary", key=f"{key}-run"):
        split = learning_split()
        st.session_state[state] = [Stepper(c, split).run(steps) for c in configs]
    runs = st.session_state.get(state)
    if runs is None:
        st.caption(_("The same network, the same starting weights and the same batches of 32 for all three."))
        return
    names = [_(name) for name, _fields in OPTIMIZERS]
    st.plotly_chart(
        loss_chart(list(zip(names, runs)), _("MLP 784-64-10: the loss of each step")),
        key=f"{key}-chart",
        config={"displayModeBar": False},
        alt=_("The loss of each step for SGD, SGD with momentum and Adam."),
    )
    st.dataframe(
        pd.DataFrame(
            {
                _("optimizer"): names,
                _("learning rate"): [rate_label(c.lr) for c in configs],
                _("mean loss of the last 10 steps"): [float(np.mean(losses[-10:])) for losses in runs],
            }
        ),
        hide_index=True,
        key=f"{key}-table",
    )
    for i, c in enumerate(configs):
        view.code_behind(c, f"{key}-code-{i}")


LESSON = Lesson(
    slug="gradients",
    title=N_("Gradients and an optimizer change the weights"),
    summary=N_("How one batch's loss turns into a correction of every weight, one step at a time."),
    tutorials=("000", "002", "004"),
    recipe="tutorial-mlp-sgd",
    steps=(
        Step(
            title=N_("backward() fills in the gradient"),
            text=N_(
                "PyTorch remembers every sum that led to the loss. Calling `loss.backward()` walks those sums back "
                "and works out, for every weight, which way and how much it pushed the loss: its **gradient**. "
                "Until then there is nothing to show."
            ),
            widget=before_and_after_backward,
            guess=Guess(
                question=N_("What is in a layer's `.grad` before `loss.backward()` has run?"),
                choices=(N_("Zeros"), N_("Nothing: None"), N_("Random numbers")),
                answer=1,
                why=N_("No gradient has been worked out yet, so PyTorch keeps None there."),
            ),
            alt=N_("The first layer's gradient as pictures, after backward() ran on one batch."),
        ),
        Step(
            title=N_("A step moves each weight against its gradient"),
            text=N_(
                "Plain SGD changes each weight by minus the learning rate times its gradient. A positive gradient "
                "means the loss grows with that weight, so the weight is made a little smaller."
            ),
            widget=one_update,
            guess=Guess(
                question=N_("A weight's gradient is positive. What does plain SGD do to that weight?"),
                choices=(N_("Makes it bigger"), N_("Makes it smaller"), N_("Leaves it alone")),
                answer=1,
                why=N_("It moves against the gradient: weight − learning rate × gradient."),
            ),
        ),
        Step(
            title=N_("One training step at a time"),
            text=N_(
                "Training is this step again and again: a batch, its loss, the gradient, a correction. Press Step "
                "and watch the loss and the ten digits' weights; then raise the learning rate and see what too "
                "big a correction does."
            ),
            widget=step_by_step,
            alt=N_("The batch, the loss of every step, and pictures of the gradient, the weights and their change."),
        ),
        Step(
            title=N_("A learning rate 100 times bigger"),
            text=N_(
                "The learning rate sets how far each step goes. Too small and the loss barely moves; too big and "
                "each step jumps past the low point, further every time."
            ),
            widget=hundred_times,
            guess=Guess(
                question=N_("From a learning rate of 0.01, make it 100 times bigger. What happens to the loss?"),
                choices=(
                    N_("It falls 100 times faster"),
                    N_("It falls a little faster"),
                    N_("It jumps about and grows: training diverges"),
                ),
                answer=2,
                why=N_("Steps that big overshoot: the loss climbs instead of falling."),
            ),
            alt=N_("The loss of each of 30 steps at two learning rates."),
        ),
        Step(
            title=N_("SGD, momentum and Adam"),
            text=N_(
                "The optimizer is the rule that turns gradients into corrections. Momentum keeps part of the last "
                "steps' direction, so it rolls on through noisy batches; Adam also scales each weight's step by how "
                "big its gradients have been."
            ),
            widget=three_optimizers,
            guess=Guess(
                question=N_("On the same batches, which one brings the loss down slowest?"),
                choices=(N_("SGD"), N_("SGD with momentum 0.9"), N_("Adam")),
                answer=0,
                why=N_("Plain SGD only ever uses this batch's gradient, so its small steps add up slowly."),
            ),
            alt=N_("The loss of each step for SGD, SGD with momentum and Adam."),
        ),
    ),
)
