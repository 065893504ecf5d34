"""Dream digits (mnist_core.insight.dream): what a trained model imagines each digit looks like, and each
convolution channel's favourite stroke, read back by the same model; `python -m mnist_core dream`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mnist_core import cli
from mnist_core.insight.dream import DreamSettings, conv_layers, dream_channel, dream_digit
from mnist_core.insight.explain import Explainer
from mnist_core.store.checkpoints import load_checkpoint


@pytest.fixture(scope="module")
def trained(trained_checkpoint):
    model, ckpt = load_checkpoint(trained_checkpoint)
    return model, ckpt.config


def test_the_model_reads_each_dream_digit_as_that_digit(trained):
    model, config = trained
    explainer = Explainer(model, config)
    for digit in range(10):
        dream = dream_digit(model, config, digit)
        read = explainer.probabilities(dream.as_uint8())  # as a drawing is read: 28x28 uint8 through to_input
        assert read.argmax() == digit and read[digit] >= 0.75, (digit, read.round(3))
        assert dream.probability == pytest.approx(read[digit], abs=0.01)
        assert dream.image.shape == (28, 28) and 0 <= dream.image.min() and dream.image.max() <= 1


def test_two_seeds_dream_two_different_pictures_and_one_seed_the_same(trained):
    model, config = trained
    first, second = (dream_digit(model, config, 3, DreamSettings(start="noise", seed=s)) for s in (0, 1))
    again = dream_digit(model, config, 3, DreamSettings(start="noise", seed=0))
    assert np.abs(first.image - second.image).mean() > 0.01
    assert np.array_equal(first.image, again.image)


def test_every_convolution_channel_has_a_favourite_pattern(trained):
    model, config = trained
    layers = conv_layers(model)
    assert list(layers) and all(n > 0 for n in layers.values())
    for layer in layers:
        for channel in (0, 1):
            blank = dream_channel(model, config, layer, channel, DreamSettings(steps=0))  # paper, unchanged
            dream = dream_channel(model, config, layer, channel)
            # Above what blank paper gives, and far above it past the first layer (which sees only 3x3 pixels).
            margin = 0.0 if layer == next(iter(layers)) else 1.0
            assert dream.activation > blank.activation + margin, (layer, channel, dream.activation, blank.activation)
    last = list(layers)[-1]
    first, second = (dream_channel(model, config, last, channel).image for channel in (0, 1))
    assert np.abs(first - second).mean() > 0.01  # two channels wait for different strokes
    with pytest.raises(ValueError, match="no convolution layer 'nope'"):
        dream_channel(model, config, "nope", 0)
    with pytest.raises(ValueError, match="channels 0 to"):
        dream_channel(model, config, next(iter(layers)), 10_000)


def test_the_dream_command_writes_a_png_and_one_json_line(trained_checkpoint, tmp_path, capsys):
    out = tmp_path / "three.png"
    assert cli.main(["dream", "--checkpoint", str(trained_checkpoint), "--digit", "3", "--out", str(out)]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["digit"] == 3 and line["probability"] >= 0.75 and line["out"] == str(out)
    picture = np.asarray(Image.open(out))
    assert picture.shape == (280, 280) and picture.min() < 128 < picture.max()  # dark ink on white paper
    code = cli.main(["dream", "--checkpoint", str(trained_checkpoint), "--layer", "9", "--channel", "0", "--out", "x"])
    err = capsys.readouterr().err
    assert code == 2 and "no convolution layer '9'" in err and "Traceback" not in err
    assert cli.main(["dream", "--checkpoint", str(trained_checkpoint), "--out", str(out)]) == 2
    assert "either --digit" in capsys.readouterr().err
