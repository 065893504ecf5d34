"""Learn's first four lessons (numbers, layer, softmax, loss) in AppTest, step by step, and the engine module
behind them (mnist_core.lessons.basics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from conftest import open_page
from mnist_core.lessons import basics


def _text(at) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [c.value for c in at.code]
    parts += [str(m.value) for m in at.metric] + [s.value for s in at.success] + [i.value for i in at.info]
    return " ".join(str(p) for p in parts)


def _charts(at) -> str:
    return " ".join(c.proto.spec for c in at.get("plotly_chart"))


def step(app, lesson: str, n: int, answer: int | None = None):
    """Open step n of a lesson; pick the guess's answer `answer` (if the step asks one) and rerun."""
    open_page(app, "learn")
    app.query_params["lesson"], app.query_params["step"] = lesson, str(n)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    if answer is not None:
        radio = app.radio(key=f"{lesson}-{n}-guess")
        assert radio.value is None
        radio.set_value(answer).run()
        assert not app.exception, [e.value for e in app.exception]
    return app


def press(app, key: str, timeout: float = 120):
    app.button(key=key).click().run(timeout=timeout)
    assert not app.exception, [e.value for e in app.exception]
    return app


# --- the engine ---------------------------------------------------------------------------------------------


def test_to_tensor_and_normalize_are_the_training_arithmetic(sample):
    images = sample.train.images[:5]
    t = basics.to_tensor(images)
    assert t.shape == (5, 1, 28, 28) and t.dtype == torch.float32
    assert torch.allclose(t[:, 0] * 255, images.float())
    n = basics.normalized(images)
    assert torch.allclose(n, (t - 0.1307) / 0.3081)
    assert math.isclose(
        float(basics.normalized(torch.zeros(1, 28, 28, dtype=torch.uint8)).max()), -0.1307 / 0.3081, rel_tol=1e-6
    )
    flat = basics.flat(t)
    assert flat.shape == (5, 784) and torch.equal(flat[0, 28:56], t[0, 0, 1])  # row 1 follows row 0


def test_a_neuron_is_its_weighted_sum_plus_bias(sample):
    layer = basics.first_linear(basics.fresh_model("linear", 0))
    x = basics.normalized(sample.train.images[:1])[0]
    for unit in (0, 7):
        s = basics.neuron_sum(layer, x, unit)
        with torch.no_grad():
            expected = float(layer(x.reshape(1, -1))[0, unit])
        assert math.isclose(s.output, expected, rel_tol=1e-5, abs_tol=1e-5)
        assert math.isclose(s.weighted_sum + s.bias, s.output, rel_tol=1e-5, abs_tol=1e-5)
    moved = basics.neuron_sum(layer, x, 0, bias=s.bias + 1)
    assert math.isclose(moved.output - basics.neuron_sum(layer, x, 0, bias=s.bias).output, 1.0, rel_tol=1e-5)


def test_softmax_and_cross_entropy_are_torchs():
    p = basics.softmax([1, 5, 3])
    assert np.allclose(p, [0.016, 0.867, 0.117], atol=1e-3)  # tutorial 001's worked example
    assert np.allclose(basics.softmax([11, 15, 13]), p)
    assert math.isclose(basics.cross_entropy([1, 5, 3], 1), -math.log(p[1]), rel_tol=1e-9)
    assert basics.cross_entropy([0, 60, 0], 1) < 1e-12


def test_log_softmax_and_nll_loss_equal_cross_entropy():
    z = torch.randn(64, 10, generator=torch.Generator().manual_seed(1)) * 3
    y = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(2))
    r = basics.loss_two_ways(z, y)
    assert math.isclose(r.nll_of_log_softmax, r.cross_entropy, rel_tol=1e-6)
    assert math.isclose(float(np.mean(r.per_image)), r.cross_entropy, rel_tol=1e-5)


def test_an_untrained_network_starts_at_chance(sample):
    start = basics.untrained_start("mlp-128-64", 0, sample.test)
    assert abs(start.loss - basics.CHANCE_LOSS) < 0.1
    assert 0.02 < start.accuracy < 0.25 and abs(start.p_true - 0.1) < 0.02


def test_a_model_trained_in_place_is_the_one_the_lesson_watches(sample, one_cpu_thread):
    from mnist_core.learning.training import train
    from ui.learn.lessons.layer import LINEAR

    model = basics.fresh_model("linear", 0)
    before = basics.weight_pictures(model)
    seen = []
    result = train(
        LINEAR,
        sample.train,
        sample.test,
        lambda e: seen.append(basics.weight_pictures(model)),
        initial=model,
        in_place=True,
    )
    assert result.model is model
    assert not np.allclose(before, basics.weight_pictures(model)) and not np.allclose(seen[1], seen[-1])
    assert basics.parameter_table(model) == [("out.weight", (10, 784), 7840), ("out.bias", (10,), 10)]


# --- the lessons in the app ---------------------------------------------------------------------------------


def test_the_lessons_are_listed_in_order(app):
    open_page(app, "learn")
    app.run()
    text = " ".join(p.proto.label for p in app.get("page_link"))
    positions = [text.find(t) for t in ("An image is numbers", "A layer is weights", "Scores become", "The loss says")]
    assert -1 not in positions and positions == sorted(positions), text


def test_numbers_lesson(app, sample):
    train = sample.train
    at = step(app, "numbers", 1, answer=2)
    assert "784 numbers" in _charts(at) and "Right." in _text(at)
    at.slider(key="numbers-1-image").set_value(3).run()
    assert f"A {int(train.labels[3])}: 28 x 28" in _charts(at)

    at = step(app, "numbers", 2, answer=0)
    assert "Not quite" in _text(at)
    at.slider(key="numbers-2-row").set_value(10).run()
    row10 = " ".join(str(int(v)) for v in train.images[0, 10])
    assert f"Grid row 10 is numbers 280 to 307 of the row (in orange): {row10}" in _text(at)
    assert "in_features=784" in _text(at) and "(1, 784)" in _text(at)

    at = step(app, "numbers", 3, answer=2)
    r, c = 14, 14
    value = int(train.images[0, r, c])
    assert at.metric[0].value == str(value) and at.metric[1].value == f"{value / 255:.4f}"

    at = step(app, "numbers", 4, answer=1)
    assert "after Normalize" in _charts(at)
    assert f"**{-0.1307 / 0.3081:.4f}** (paper)" in _text(at)
    assert f"**{(255 / 255 - 0.1307) / 0.3081:.4f}** (full ink)" in _text(at) or "(full ink)" in _text(at)

    at = step(app, "numbers", 5, answer=2)
    press(at, "numbers-5-train")
    spec = _charts(at)
    assert "Held-out accuracy after one epoch" in spec
    losses = {}
    [line] = [m.value for m in at.markdown if "held-out loss" in m.value]
    for part in line.split(" · "):
        if "held-out loss" in part:
            name, loss = part.rsplit(": held-out loss ", 1)
            losses[name.strip()] = float(loss)
    assert set(losses) == {"pixels 0 to 255", "ToTensor: 0 to 1", "ToTensor + Normalize"}, losses
    assert losses["pixels 0 to 255"] > 10 * losses["ToTensor + Normalize"]  # the loss explodes on 0-255 inputs


def test_layer_lesson(app, sample):
    at = step(app, "layer", 1, answer=0)
    assert "still random" in _text(at)
    at.slider(key="layer-1-bias").set_value(1.0).run()
    a = float(_text(at).split("+ (1.00) = **")[1].split("**")[0])
    at.slider(key="layer-1-bias").set_value(2.0).run()
    b = float(_text(at).split("+ (2.00) = **")[1].split("**")[0])
    assert math.isclose(b - a, 1.0, abs_tol=2e-3)
    assert at.image and all(img.proto.imgs for img in at.image)

    at = step(app, "layer", 2, answer=1)
    press(at, "layer-2-train")
    run = at.session_state["learn-linear"]
    assert run.done and run.val_acc[-1] > 0.8 and run.val_acc[0] < 0.3

    at.query_params["step"] = "3"
    at.run()
    at.radio(key="layer-3-guess").set_value(2).run()
    acc = at.metric[0].value
    z = basics.logits(run.model, sample.test.images)
    expected = float((z.argmax(1) == sample.test.labels).float().mean())
    assert acc == f"{expected:.1%}" and expected > 0.8
    assert "These weights were trained" not in _text(at)

    at.query_params["step"] = "1"
    at.run()
    at.radio(key="layer-1-guess").set_value(0).run()
    assert "These weights were trained in step 2." in _text(at)

    at = step(app, "layer", 4, answer=2)
    assert "**7,850** numbers" in _text(at)
    at.selectbox(key="layer-4-model").set_value("mlp-64x3").run()
    expected = 784 * 64 + 64 + 2 * (64 * 64 + 64) + 64 * 10 + 10
    assert f"**{expected:,}** numbers" in _text(at)
    assert "Train this tutorial's network" in " ".join(p.proto.label for p in at.get("page_link"))


def test_softmax_lesson(app):
    at = step(app, "softmax", 1, answer=1)
    spec = _charts(at)
    assert all(f'"{v}"' in spec for v in ("0.016", "0.867", "0.117")), "tutorial 001's worked example"
    at.slider(key="softmax-1-z0").set_value(5.0).run()
    assert '"0.468"' in _charts(at)  # e^5 / (e^5 + e^5 + e^3)

    at = step(app, "softmax", 2, answer=1)
    assert "Largest change in any probability" in _text(at)
    change = float(_text(at).split("Largest change in any probability: ")[1].split()[0])
    assert change < 1e-9

    at = step(app, "softmax", 3, answer=1)
    p = basics.softmax([2, 10, 6])
    assert f'"{p[1]:.3f}"' in _charts(at)

    at = step(app, "softmax", 4)
    assert "needs a trained network" in _text(at)
    press(at, "softmax-4-train")
    assert "Its answer:" in _text(at) and "The layer's ten scores" in _charts(at)


def test_loss_lesson(app, sample):
    at = step(app, "loss", 1, answer=0)
    p = basics.softmax([1, 5, 3])
    assert at.metric[1].value == f"{-math.log(p[1]):.3f}"
    at.slider(key="loss-1-z1").set_value(10.0).run()
    at.slider(key="loss-1-z0").set_value(-10.0).run()
    at.slider(key="loss-1-z2").set_value(-10.0).run()
    assert at.metric[1].value == "0.000"
    at.radio(key="loss-1-true").set_value(0).run()
    assert float(at.metric[1].value) > 19

    at = step(app, "loss", 2, answer=1)
    start = basics.untrained_start("mlp-128-64", 0, sample.test)
    assert at.metric[0].value == f"{start.loss:.3f}" and abs(start.loss - 2.30) < 0.1

    at = step(app, "loss", 3)
    press(at, "loss-3-train")
    run = at.session_state["learn-loss-run"]
    assert run.done and run.losses[0] > 2.0 and np.mean(run.losses[-5:]) < 1.0
    assert "Training loss, batch by batch" in _charts(at)

    at.query_params["step"] = "4"
    at.run()
    at.radio(key="loss-4-guess").set_value(0).run()
    assert "trained in step 3" in _text(at)
    code = " ".join(c.value for c in at.code)
    nll, ce = (float(line.split("# ")[1]) for line in code.splitlines() if "# " in line)
    z = basics.logits(run.model, sample.train.images[:64], 0.5, 0.5)
    assert math.isclose(nll, ce, abs_tol=1e-6)
    assert math.isclose(ce, float(F.cross_entropy(z, sample.train.labels[:64])), abs_tol=1e-5)
    assert "Train this tutorial's network" in " ".join(p.proto.label for p in at.get("page_link"))


@pytest.mark.parametrize("lesson", ["numbers", "layer", "softmax", "loss"])
def test_every_step_draws_in_chinese(app, lesson):
    from mnist_core import i18n
    from ui.learn.lessons import BY_SLUG

    app.session_state["lang"] = "zh"  # as the sidebar sets it
    i18n.use("zh")  # AppTest formats the sidebar's choices again in the test's own thread
    try:
        for n in range(1, len(BY_SLUG[lesson].steps) + 1):
            at = step(app, lesson, n)
            radio = [r for r in at.radio if r.key == f"{lesson}-{n}-guess"]
            if radio:
                radio[0].set_value(0).run()
                assert not at.exception, [e.value for e in at.exception]
            assert f"第 {n} 步" in " ".join(h.value for h in at.subheader)
    finally:
        i18n.use("en")
