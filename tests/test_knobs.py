"""The Train page's knobs table: every knob survives a trip through a link, a value a knob does not offer is
refused naming what it does offer, what the controls offer always trains, and the CLI's train flags come
from the same table. Plus: no mnist_core module imports another in a circle, or from a room above its own."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_core.cli import build_parser
from mnist_core.learning import knobs
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.recipes import RECIPES, recipe_config

LIMITS = knobs.Limits(min_train_size=500, max_train_size=4000)  # the offline sample's training part
PACKAGE = Path(knobs.__file__).parents[1]  # mnist_core


def offered(knob: knobs.Knob) -> list:
    """Every value the knob's control offers, or for long ranges the ends and a few between."""
    values = knob.allowed(LIMITS)
    return list(values) if len(values) <= 100 else [values[0], values[1], values[len(values) // 2], values[-1]]


@pytest.mark.parametrize("knob", knobs.KNOBS, ids=lambda k: k.name)
def test_every_value_a_knob_offers_round_trips_through_a_link(knob):
    for value in offered(knob):
        text = knob.write(value)
        assert isinstance(text, str)
        back = knob.read(text, LIMITS)
        assert back == value and type(back) is type(value), (value, text, back)


def test_the_pages_settings_round_trip_through_a_link():
    """Every knob at once, away from its default: link -> settings -> link gives the same."""
    settings = {
        "recipe": "tutorial-cnn-small",
        "model": "mlp-128-64",
        "epochs": 7,
        "batch_size": 15,
        "lr": 3e-4,
        "optimizer": "sgd",
        "train_size": 1500,
        "augment": True,
        "seed": 12345,
    }
    assert set(settings) == {k.name for k in knobs.KNOBS}  # a new knob must be added here too
    link = knobs.link_params(settings)
    assert all(isinstance(v, str) for v in link.values())
    back, problems = knobs.settings_from_link(link, LIMITS.max_train_size, LIMITS.min_train_size)
    assert problems == [] and back == settings
    config = knobs.config_from_settings(back, LIMITS)
    assert (
        config.recipe,
        config.model,
        config.epochs,
        config.batch_size,
        config.lr,
        config.optimizer,
        config.train_size,
        config.augment,
        config.seed,
    ) == tuple(settings.values())
    assert config.norm_std == RECIPES["tutorial-cnn-small"].config.norm_std  # the rest comes from the recipe


def outside(knob: knobs.Knob) -> str:
    """A value the knob does not offer."""
    if isinstance(knob, knobs.ChoiceKnob):
        return "nope"
    if isinstance(knob, knobs.StopsKnob):
        return knob.write(knob.stops[0] * 1.5)  # between the first two stops
    if isinstance(knob, knobs.RangeKnob):
        return str(knob.allowed(LIMITS)[-1] + 1)
    return "maybe"


def allowed_words(knob: knobs.Knob) -> str:
    """How the message must name what is allowed."""
    if isinstance(knob, knobs.ChoiceKnob):
        return "choose one of " + ", ".join(knob.allowed(LIMITS))
    if isinstance(knob, knobs.StopsKnob):
        return "choose one of " + ", ".join(f"{v:g}" for v in knob.stops)
    if isinstance(knob, knobs.RangeKnob):
        lo, hi = knob.allowed(LIMITS)[0], knob.allowed(LIMITS)[-1]
        return f"must be between {lo:,} and {hi:,}"
    return "use 1 (on) or 0 (off)"


@pytest.mark.parametrize("knob", knobs.KNOBS, ids=lambda k: k.name)
def test_a_value_a_knob_does_not_offer_is_refused_naming_what_it_offers(knob):
    settings, problems = knobs.settings_from_link(
        {knob.name: outside(knob), "seed": "5"} if knob.name != "seed" else {knob.name: outside(knob)},
        LIMITS.max_train_size,
        LIMITS.min_train_size,
    )
    (problem,) = problems
    assert problem == f"{knob.name}={outside(knob)!r} was ignored: {allowed_words(knob)}"
    assert knob.name not in settings


def test_the_model_knob_offers_the_faithful_pooled_network_not_the_earlier_reading():
    models = knobs.BY_NAME["model"].allowed(LIMITS)
    assert "cnn-pooled-4x" in models and "cnn-pooled" not in models
    _, problems = knobs.settings_from_link({"model": "cnn-pooled"}, 4000, 500)
    assert problems and "choose one of fast-strided, fast," in problems[0]


@pytest.mark.parametrize("knob", knobs.KNOBS, ids=lambda k: k.name)
def test_the_controls_never_offer_a_value_the_config_refuses(knob):
    """The controls never offer what TrainConfig.validate refuses."""
    for value in offered(knob):
        settings = {"recipe": value} if knob is knobs.RECIPE else {knob.name: value}
        knobs.config_from_settings(settings, LIMITS).validate()


def test_a_recipe_sets_its_knobs_and_leaves_the_learners_own():
    for slug, recipe in RECIPES.items():
        preset = knobs.settings_from_config(recipe_config(slug), LIMITS, preset_only=True)
        assert "seed" not in preset and "train_size" not in preset
        again = knobs.config_from_settings(preset, LIMITS)
        # what the controls show trains as the recipe itself (the learning rate snapped to the nearest stop)
        for field in ("model", "epochs", "batch_size", "optimizer", "augment"):
            assert getattr(again, field) == getattr(recipe.config, field), (slug, field)
    everything = knobs.settings_from_config(TrainConfig(), LIMITS)
    assert everything["train_size"] == LIMITS.max_train_size  # 0 = every image: the slider's top
    assert knobs.config_from_settings(everything, LIMITS).train_size == 0
    assert knobs.BY_NAME["lr"].nearest(0.002, LIMITS) == 3e-3 and knobs.BY_NAME["epochs"].nearest(50, LIMITS) == 30


def test_the_cli_train_flags_are_the_knobs():
    """Each knob with a flag sets its own config field from the command line, through the same table."""
    args = build_parser().parse_args(
        [
            "train",
            "--recipe",
            "tutorial-mlp-sgd",
            "--model",
            "fast",
            "--epochs",
            "40",
            "--batch-size",
            "100",
            "--lr",
            "0.05",
            "--optimizer",
            "adam",
            "--train-size",
            "0",
            "--augment",
            "--seed",
            "9",
            "--threads",
            "1",
        ]
    )
    flagged = {k.name for k in knobs.KNOBS if k.flag}
    assert flagged == {k.name for k in knobs.KNOBS}
    overrides = knobs.cli_overrides(args)
    assert set(overrides) == flagged - {"recipe"}
    config = recipe_config(args.recipe, **overrides).validate()
    # the CLI takes TrainConfig's whole range, beyond the page's stops (40 epochs, batches of 100)
    assert (
        config.recipe,
        config.model,
        config.epochs,
        config.batch_size,
        config.lr,
        config.optimizer,
        config.train_size,
        config.augment,
        config.seed,
    ) == ("tutorial-mlp-sgd", "fast", 40, 100, 0.05, "adam", 0, True, 9)
    assert config.momentum == 0.9  # the recipe's own, under the flags
    plain = build_parser().parse_args(["train"])
    assert plain.recipe == "fast" and knobs.cli_overrides(plain) == {}


def _module(path: Path) -> str:
    """mnist_core/learning/config.py -> "learning.config"."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES = {_module(p) for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}


def _imports(path: Path) -> set[str]:
    """The mnist_core modules a module imports, at the top or inside a function, as "room.module"."""
    here = _module(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("mnist_core.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join([*here.split(".")[: len(here.split(".")) - node.level + 1], node.module or ""])
            elif node.module == "mnist_core" or (node.module or "").startswith("mnist_core."):
                base = node.module.partition(".")[2]
            else:
                continue
            base = base.strip(".")
            for a in node.names:  # `from mnist_core.learning import knobs` names a module; else `base` is one
                found.add(f"{base}.{a.name}".strip(".") if f"{base}.{a.name}".strip(".") in MODULES else base)
    return found - {""}


# The rooms from the ground up: a module imports from its own room or from rooms below it, never above.
FLOORS = {
    "i18n": 0,
    "data": 1,
    "learning": 2,
    "store": 3,
    "runs": 4,
    "insight": 5,
    "classroom": 5,
    "lessons": 5,
    "cli": 6,
}


def test_no_mnist_core_module_imports_another_in_a_circle_or_upwards():
    graph = {_module(p): _imports(p) for p in PACKAGE.rglob("*.py") if p.stem not in ("__init__", "__main__")}

    def cycle_from(start, node, path):
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return path + [nxt]
            if nxt not in path:
                found = cycle_from(start, nxt, path + [nxt])
                if found:
                    return found
        return None

    cycles = [c for name in graph if (c := cycle_from(name, name, [name]))]
    assert cycles == [], cycles
    room = lambda module: module.split(".")[0]
    upwards = [(a, b) for a in graph for b in graph[a] if FLOORS[room(b)] > FLOORS[room(a)]]
    assert upwards == [], upwards
    assert {room(m) for m in graph} == set(FLOORS)  # a new room needs its floor here
    assert graph["i18n"] == set()  # a leaf: every module may import it for its messages
    config = graph["learning.config"]
    assert config <= {"learning.models", "i18n"} and "learning.config" not in graph["learning.models"]
    assert "learning.knobs" not in config


@pytest.mark.parametrize(
    "module", ["learning.config", "learning.knobs", "learning.recipes", "learning.models", "learning.events", "cli"]
)
def test_each_module_imports_on_its_own(module):
    proc = subprocess.run(
        [sys.executable, "-c", f"import mnist_core.{module}"],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
