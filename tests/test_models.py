"""The model registry and the recipes: every network builds and maps a batch of digits to 10 scores, with
the size its description promises; every preset validates and matches the tutorial it comes from."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import MODELS, build_model, count_parameters, pickable_models, predict_probabilities
from mnist_core.learning.recipes import RECIPES, recipe_config


def dense(*sizes: int) -> int:
    """Weights + biases of a chain of fully connected layers."""
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def conv(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


# Parameter counts worked out by hand from each network's description (layer sizes in its title).
EXPECTED_PARAMETERS = {
    "linear": dense(784, 10),  # 784-10
    "mlp-64": dense(784, 64, 10),  # 784-64-10
    "mlp-64-no-relu": dense(784, 64, 10),  # the same layers; only the ReLU between them is gone
    "mlp-256": dense(784, 256, 256, 10),  # 784-256-256-10
    "mlp-256-dropout": dense(784, 256, 256, 10),  # dropout has no weights
    "mlp-64x3": dense(784, 64, 64, 64, 10),  # 784-64-64-64-10
    "mlp-128-64": dense(784, 128, 64, 10),  # 784-128-64-10
    "cnn-small": conv(1, 10, 5) + conv(10, 20, 3) + dense(20 * 10 * 10, 500, 10),  # conv10, conv20, fc500
    "cnn-example": conv(1, 32, 3) + conv(32, 64, 3) + dense(9216, 128, 10),  # conv32, conv64, fc128
    "cnn-pooled-4x": conv(1, 32, 3) + conv(32, 32, 3) + dense(32, 10),  # one conv used four times: counted once
    "cnn-pooled": conv(1, 32, 3) + conv(32, 32, 3) + dense(32, 10),  # the earlier reading: the same weights
    # three conv (no bias) + batch-norm blocks, 16/32/64 channels, 3x3 maps into one linear layer
    "fast-strided": conv(1, 16, 3, False)
    + conv(16, 32, 3, False)
    + conv(32, 64, 3, False)
    + 2 * (16 + 32 + 64)
    + dense(64 * 9, 10),
    "fast": conv(1, 16, 5, False)
    + conv(16, 32, 3, False)
    + conv(32, 64, 3, False)
    + 2 * (16 + 32 + 64)
    + dense(64 * 9, 10),
}


def test_without_relu_two_layers_are_one_linear_map_and_dropout_acts_only_in_training():
    torch.manual_seed(0)
    plain, dropout = build_model("mlp-64-no-relu"), build_model("mlp-256-dropout")
    x = torch.randn(2, 1, 28, 28)
    assert torch.allclose(
        plain(x + x) - plain(torch.zeros_like(x)), 2 * (plain(x) - plain(torch.zeros_like(x))), atol=1e-4
    )
    dropout.eval()
    assert torch.equal(dropout(x), dropout(x))
    dropout.train()
    assert not torch.equal(dropout(x), dropout(x))


def test_the_registry_has_the_tutorial_networks_and_the_fast_default():
    assert set(MODELS) == set(EXPECTED_PARAMETERS)
    assert next(iter(MODELS)) == "fast-strided" and TrainConfig().model == "fast-strided"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_builds_and_maps_digits_to_ten_scores(name):
    spec = MODELS[name]
    assert spec.title and spec.source and len(spec.description) > 30  # something a learner can read
    model = build_model(name)
    assert count_parameters(name) == count_parameters(model) == EXPECTED_PARAMETERS[name] > 0
    torch.manual_seed(0)
    x = torch.randn(5, 1, 28, 28)
    model.eval()
    with torch.no_grad():
        logits = model(x)
        single = model(x[:1])
    assert logits.shape == (5, 10) and single.shape == (1, 10)
    assert torch.isfinite(logits).all()
    # Raw scores, not log-probabilities: the loss applies the softmax itself.
    assert not torch.allclose(torch.logsumexp(logits, 1), torch.zeros(5), atol=1e-3)
    probs = predict_probabilities(model, x)
    assert probs.shape == (5, 10) and torch.allclose(probs.sum(1), torch.ones(5), atol=1e-5)
    # A batch gives each image the same answer as on its own (no leakage between images in eval mode).
    assert torch.allclose(logits[:1], single, atol=1e-5)


def test_two_builds_are_independent_networks():
    a, b = build_model("mlp-64x3"), build_model("mlp-64x3")
    assert a is not b and not torch.equal(a.out.weight, b.out.weight)


def test_an_unknown_model_name_is_refused_naming_the_choices():
    with pytest.raises(KeyError, match="choose one of: fast-strided, fast"):
        build_model("resnet50")


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_recipe_validates_and_uses_a_model_one_can_pick(name):
    recipe = RECIPES[name]
    assert recipe.slug == name and recipe.description and recipe.config.model in pickable_models()
    # a title in plain words, short enough for a button: not the slug
    assert recipe.title != recipe.slug and "-" not in recipe.title and len(recipe.title) <= 30
    fresh = recipe_config(name)
    assert fresh.validate() is fresh and fresh.recipe == name


# What the seed tutorials in ../shared/seeds/ actually do.
SEED_TUTORIALS = {
    "tutorial-mlp-adam": dict(
        model="mlp-64x3", optimizer="adam", lr=1e-3, batch_size=15, epochs=2, norm_mean=0.0, norm_std=1.0
    ),  # ToTensor() only
    "tutorial-mlp-sgd": dict(
        model="mlp-128-64",
        optimizer="sgd",
        lr=0.003,
        momentum=0.9,
        batch_size=64,
        epochs=15,
        norm_mean=0.5,
        norm_std=0.5,
    ),
    "tutorial-cnn-small": dict(
        model="cnn-small", optimizer="adam", lr=1e-3, batch_size=16, epochs=10, norm_mean=0.1307, norm_std=0.3081
    ),
    "pytorch-example": dict(
        model="cnn-example", optimizer="adadelta", lr=1.0, scheduler="step", step_gamma=0.7, batch_size=64, epochs=14
    ),
    "tutorial-cnn-pooled": dict(model="cnn-pooled-4x", optimizer="adam", lr=1e-3, epochs=10),  # described, no code
}


@pytest.mark.parametrize("name", list(SEED_TUTORIALS))
def test_recipes_match_the_seed_tutorials(name):
    config = recipe_config(name)
    for field, value in SEED_TUTORIALS[name].items():
        expected = pytest.approx(value) if isinstance(value, float) else value
        assert getattr(config, field) == expected, field
    assert config.augment is False  # the tutorials train on the plain images
    assert config.scheduler in ("none", "step")


def test_recipe_config_is_a_fresh_copy_with_overrides():
    config = recipe_config("fast", epochs=2, batch_size=64)
    assert (config.epochs, config.batch_size) == (2, 64)
    config.lr = 5.0
    assert RECIPES["fast"].config.lr == 0.01 and recipe_config("fast").epochs == 10
    assert recipe_config("fast", recipe="mine").recipe == "mine"
    with pytest.raises(KeyError, match="unknown recipe"):
        recipe_config("nope")


def test_fast_models_saved_with_the_old_layer_order_give_the_same_answers():
    """The fast CNN's blocks pool before their ReLU (cheaper). Models trained when the ReLU came first must
    load into the new network unchanged and answer exactly as before, in eval and in training mode."""

    def old_block(c_in, c_out, k):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    torch.manual_seed(1)
    old = nn.Sequential(
        old_block(1, 16, 5), old_block(16, 32, 3), old_block(32, 64, 3), nn.Flatten(), nn.Linear(64 * 9, 10)
    )
    with torch.no_grad():  # trained-looking batch-norm state, some scales negative
        for m in old.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.normal_()
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
    new = build_model("fast")
    new.load_state_dict(old.state_dict())  # same names and shapes
    x = torch.randn(32, 1, 28, 28)
    for train_mode in (False, True):
        old.train(train_mode)
        new.train(train_mode)
        torch.testing.assert_close(new(x), old(x), atol=1e-5, rtol=1e-5)


def test_the_pooled_tutorial_network_follows_the_tutorials_words():
    """The tutorial (no code) names two conv layers, the second reused many times, max pooling and a global
    average pool. The recipe's network runs conv2 four times, pools twice to 7x7 and averages those maps."""
    model = build_model(recipe_config("tutorial-cnn-pooled").model)
    seen = []
    model.conv2.register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape[-2:])))
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    assert seen == [(28, 28), (28, 28), (14, 14), (14, 14)]  # one conv, four uses, a max pool after every second
    assert "no code" in RECIPES["tutorial-cnn-pooled"].description


class EarlierPooledCNN(nn.Module):
    """cnn-pooled as Digit Lab first read the tutorial (conv2 twice, one pool), copied from before the change."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.fc = nn.Linear(width, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        x = torch.relu(self.conv2(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        return self.fc(torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1))


def test_checkpoints_of_the_earlier_pooled_reading_load_and_answer_as_before(sample, tmp_path):
    """Models saved as cnn-pooled before the faithful reading existed still load under that name and give the
    same scores on real digits; new runs cannot pick it any more."""
    from mnist_core.data.sources import normalize
    from mnist_core.store.checkpoints import load_checkpoint, save_checkpoint

    torch.manual_seed(3)
    old = EarlierPooledCNN().eval()
    meta = {
        "architecture": "cnn-pooled",
        "name": "an old pooled model",
        "config": TrainConfig(model="cnn-pooled", recipe="tutorial-cnn-pooled").to_dict(),
    }
    path = save_checkpoint(old, meta, tmp_path)
    loaded, ckpt = load_checkpoint(path)
    x = normalize(sample.test.images[:64], 0.1307, 0.3081)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), old(x), atol=1e-5, rtol=1e-5)
        # control: the same weights in the faithful network answer differently, so the check above can fail
        faithful = build_model("cnn-pooled-4x").eval()
        faithful.load_state_dict(old.state_dict())
        assert not torch.allclose(faithful(x), old(x), atol=1e-3)
    assert ckpt.config.model == "cnn-pooled" and "earlier reading" in MODELS["cnn-pooled"].title
    assert "cnn-pooled" not in pickable_models() and "cnn-pooled-4x" in pickable_models()
