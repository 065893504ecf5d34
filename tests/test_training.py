"""Training and evaluation on real digits: the default model learns, runs are reproducible, the stop
button works within a batch, progress events carry what the charts need, and evaluation reports add up."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from mnist_core.data.sources import normalize, subsample
from mnist_core.learning.config import ConfigError, TrainConfig
from mnist_core.learning.devices import set_cpu_threads
from mnist_core.learning.evaluation import evaluate
from mnist_core.learning.pipeline import augment
from mnist_core.learning.training import train
from mnist_core.runs.train import planned_steps, train_and_save
from mnist_core.store.checkpoints import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


def small_config(**overrides) -> TrainConfig:
    """A quick MLP run: 512 images in batches of 32 = 16 steps per epoch."""
    base = dict(
        model="mlp-64x3",
        epochs=2,
        batch_size=32,
        lr=3e-3,
        optimizer="adam",
        scheduler="none",
        augment=False,
        train_size=512,
        val_size=500,
        seed=7,
        device="cpu",
        cpu_threads=1,
    )
    return TrainConfig(**{**base, **overrides})


@pytest.fixture(scope="module")
def trained(trained_checkpoint):
    return load_checkpoint(trained_checkpoint)


def test_augmented_digits_are_moved_a_little_and_stay_readable(trained, sample):
    """Augmentation jitters each digit but keeps it the same digit: the trained model still reads them, and
    the same images merely transposed (what a grid with x and y swapped would give) it mostly cannot."""
    model, ckpt = trained
    images, labels = sample.test.images[:500], sample.test.labels[:500]
    x = normalize(images, 0.0, 1.0)
    moved = augment(x, torch.Generator().manual_seed(1))
    assert moved.shape == x.shape
    changed = (moved - x).abs().flatten(1).mean(1)
    assert (changed > 0.01).float().mean() > 0.95  # nearly every image really moved
    ink = moved.flatten(1).sum(1) / x.flatten(1).sum(1)
    assert 0.7 < ink.median() < 1.3  # scaled by at most 10%, so roughly the same amount of ink

    def accuracy(batch):
        with torch.no_grad():
            logits = model((batch - ckpt.config.norm_mean) / ckpt.config.norm_std)
        return (logits.argmax(1) == labels).float().mean().item()

    assert accuracy(x) > 0.95 and accuracy(moved) > 0.93  # trained on augmented digits, reads plain ones
    assert accuracy(moved.transpose(2, 3)) < 0.6  # control: orientation does matter to this model


def test_default_model_reaches_high_accuracy_on_the_sample_test_part(trained, sample):
    model, ckpt = trained
    assert ckpt.meta["architecture"] == "fast-strided" and ckpt.config.epochs == 3
    report = evaluate(model, sample.test, ckpt.config, "cpu")
    assert report.n == 1000 and report.accuracy >= 0.95
    # The accuracy recorded in the checkpoint is the one a re-evaluation gives.
    assert ckpt.accuracy == pytest.approx(report.accuracy, abs=0.005)  # 0.005: a GPU run scored it in bf16
    assert ckpt.meta["dataset"]["evaluated_on"] == "MNIST sample / test"


def test_recorded_history_starts_at_chance_and_climbs(trained):
    _, ckpt = trained
    history = ckpt.meta["history"]
    epochs = [h for h in history if h["kind"] == "epoch"]
    assert [h["epoch"] for h in epochs] == [0, 1, 2, 3]
    assert 0.03 <= epochs[0]["val_acc"] <= 0.2  # before the first step: guessing, ~10%
    assert epochs[-1]["val_acc"] >= 0.95
    steps = [h for h in history if h["kind"] == "step"]
    assert steps[-1]["step"] == steps[-1]["total_steps"] == 3 * math.ceil(4000 / 128)
    losses = [h["loss"] for h in steps]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) / 3  # the loss falls a lot


def test_events_carry_step_epoch_loss_speed_and_eta(sample):
    events = []
    result = train(small_config(), sample.train, sample.test, on_event=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[1] == "epoch" and kinds[-1] == "done"
    assert kinds.count("epoch") == 3  # before training + one per epoch
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(1, 33))  # on a CPU every step is reported
    assert all(e.total_steps == 32 and e.epochs == 2 and e.epoch == (1 if e.step <= 16 else 2) for e in steps)
    for e in steps:
        assert e.loss is not None and math.isfinite(e.loss) and e.loss > 0
        assert e.images_per_s > 0 and e.eta_s is not None and e.eta_s >= 0 and e.elapsed_s > 0
        assert 0 <= e.train_acc <= 1 and e.lr == pytest.approx(3e-3)
    assert steps[-1].eta_s == 0 and steps[0].eta_s > steps[15].eta_s > 0
    before = events[1]
    assert before.epoch == 0 and 0.03 <= before.val_acc <= 0.2  # an untrained model is at chance
    after = [e for e in events if e.kind == "epoch"][-1]
    assert after.epoch == 2 and after.val_acc > 0.6 and after.val_loss < before.val_loss
    assert result.history == [e for e in events if e.kind in ("step", "epoch")]
    assert not result.stopped and result.n_train == 512 and result.images_per_s > 0
    assert not result.model.training  # handed back ready to predict


def test_the_same_seed_gives_the_same_model_and_another_seed_does_not(sample):
    def run(seed):
        result = train(small_config(epochs=1, seed=seed, augment=True), sample.train, sample.test)
        return result.model.state_dict(), [h.loss for h in result.history if h.kind == "step"]

    (w1, l1), (w2, l2), (w3, l3) = run(11), run(11), run(12)
    assert l1 == l2 and all(torch.equal(w1[k], w2[k]) for k in w1)
    assert l1 != l3 and not torch.equal(w1["out.weight"], w3["out.weight"])


def test_label_smoothing_makes_the_model_less_sure_of_itself(sample):
    """The fast recipe's softer targets: the same run with label smoothing answers the same digits with lower
    top probabilities (plain cross-entropy pushes them towards 100%; 3 epochs of this MLP: ~0.78 against ~0.6)."""

    def top_probability(smoothing):
        result = train(small_config(epochs=3, label_smoothing=smoothing), sample.train)
        with torch.no_grad():
            x = (normalize(sample.test.images[:500], 0.0, 1.0) - 0.1307) / 0.3081
            return torch.softmax(result.model(x), 1).max(1).values.mean().item()

    plain, smoothed = top_probability(0.0), top_probability(0.2)
    assert plain > 0.7 and smoothed < plain - 0.05, (plain, smoothed)


def test_stop_flag_ends_the_run_within_a_batch(sample, tmp_path):
    stop = threading.Event()
    events = []

    def on_event(event):
        events.append(event)
        if event.kind == "step" and event.step == 5:
            stop.set()  # what the Stop button does, from another thread in the app

    outcome = train_and_save(small_config(), sample, on_event=on_event, stop=stop, models_dir=tmp_path)
    steps = [e for e in events if e.kind == "step"]
    assert steps[-1].step == 5  # not one more batch after the flag
    assert events[-1].kind == "stopped" and outcome.result.stopped
    assert [e.epoch for e in events if e.kind == "epoch"] == [0]  # the epoch never finished
    # A stopped run is still evaluated and kept, marked as stopped.
    assert outcome.checkpoint is not None and outcome.summary().stopped is True
    _, ckpt = load_checkpoint(outcome.checkpoint)
    assert ckpt.meta["metrics"]["stopped"] is True and "(stopped)" in ckpt.name


def test_a_run_stopped_before_its_first_step_saves_nothing(sample, tmp_path):
    stop = threading.Event()
    stop.set()
    outcome = train_and_save(small_config(), sample, stop=stop, models_dir=tmp_path)
    assert outcome.result.stopped and outcome.checkpoint is None and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("split, train_size", [("train", 0), ("train", 700), ("all", 0), ("all", 300)])
def test_the_planned_length_of_a_run_is_the_one_it_takes(sample, tmp_path, split, train_size):
    # The Train page draws the loss chart's x-axis from planned_steps before a run starts.
    stop, starts = threading.Event(), []

    def on_event(event):
        if event.kind == "start":
            starts.append(event.total_steps)
            stop.set()  # the length is known at the start: no need to train

    config = small_config(train_size=train_size, batch_size=64, epochs=3)
    train_and_save(config, sample, split, on_event=on_event, stop=stop, models_dir=tmp_path)
    assert starts == [planned_steps(config, sample, split)]


def test_evaluation_report_adds_up(trained, sample):
    model, ckpt = trained
    report = evaluate(model, sample.test, ckpt.config, "cpu")
    labels = sample.test.labels.numpy()
    assert report.confusion.shape == (10, 10) and report.confusion.sum() == report.n == 1000
    assert report.confusion.sum(1).tolist() == np.bincount(labels, minlength=10).tolist()  # rows: true class
    assert report.confusion.trace() / report.n == pytest.approx(report.accuracy)
    table = report.per_class
    assert list(table.columns) == ["class", "precision", "recall", "f1", "support"]
    assert table["class"].tolist() == [str(d) for d in range(10)] and table["support"].sum() == 1000
    assert table["recall"].between(0, 1).all() and (table["recall"] > 0.8).all()
    assert report.probabilities.shape == (1000, 10) and np.allclose(report.probabilities.sum(1), 1, atol=1e-4)
    mistakes = report.mistakes()
    assert len(mistakes) == report.n - report.confusion.trace() > 0
    assert (report.labels[mistakes] != report.predictions[mistakes]).all()
    assert np.all(np.diff(report.confidence[mistakes]) <= 0)  # most confident mistakes first
    worst = report.most_confused(3)
    t, p, count = worst.iloc[0]
    assert t != p and count == report.confusion[t, p] == max(
        report.confusion[i, j] for i in range(10) for j in range(10) if i != j
    )
    assert len(report.mistakes(true=t, predicted=p)) == count
    assert report.summary() == {"accuracy": report.accuracy, "loss": report.loss, "n": 1000}


def test_the_trained_model_reads_the_real_mnist_test_set(trained, mnist_test_set):
    """The sample comes from MNIST's training set, so the real test set is data the model never saw."""
    model, ckpt = trained
    half = subsample(mnist_test_set.test, 5000, seed=0)  # a seeded half of the 10,000: enough, and twice as quick
    report = evaluate(model, half, ckpt.config, "cpu")
    assert report.n == 5000 and report.accuracy >= 0.95


def test_training_on_all_5000_sample_digits_scores_high_on_the_real_mnist_test_set(sample, mnist_test_set, tmp_path):
    config = small_config(
        model="mlp-128-64",
        epochs=4,
        batch_size=64,
        lr=1e-2,
        optimizer="adamw",
        scheduler="onecycle",
        train_size=0,
        val_size=0,
    )
    outcome = train_and_save(config, sample, split="all", eval_source=mnist_test_set, models_dir=tmp_path)
    summary = outcome.summary()
    assert summary.n_train == 5000 and summary.n_test == 10_000
    assert summary.evaluated_on == "MNIST / test"
    assert summary.accuracy >= 0.92  # a small MLP on 5,000 digits; chance would be 0.10


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("epochs", 0, "epochs must be between 1 and 50"),
        ("epochs", 51, "epochs must be between 1 and 50"),
        ("epochs", 2.5, "whole number between 1 and 50"),
        ("batch_size", 4, "batch_size must be between 8 and 1024"),
        ("lr", 0.0, "lr must be between 1e-05 and 10"),
        ("lr", float("nan"), "lr must be between 1e-05 and 10"),
        ("momentum", 1.5, "momentum must be between 0 and 0.99"),
        ("label_smoothing", 0.9, "label_smoothing must be between 0 and 0.5"),
        ("seed", -1, "seed must be between 0 and"),
        ("train_size", True, "train_size must be between"),
        ("optimizer", "rmsprop", "optimizer must be one of adamw, adam, sgd, adadelta"),
        ("scheduler", "cosine", "scheduler must be one of onecycle, step, none"),
        ("device", "tpu", "device must be one of auto, cpu, cuda, mps"),
        ("model", "resnet", "unknown model 'resnet'; choose one of: fast"),
        ("norm_std", 0.0, "normalisation std"),
    ],
)
def test_config_validation_names_the_allowed_range(field, value, expected, sample):
    config = TrainConfig(**{field: value})
    with pytest.raises(ConfigError) as err:
        config.validate()
    assert expected in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError):  # training refuses it before doing anything
        train(config, sample.train)


def test_whole_number_floats_are_accepted_as_integers():
    config = TrainConfig(epochs=3.0, batch_size=64.0).validate()
    assert (config.epochs, config.batch_size) == (3, 64) and isinstance(config.epochs, int)


def test_the_machine_wide_thread_setting_applies_when_a_run_asks_for_one_per_core(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("DIGIT_LAB_CPU_THREADS", "1")
        assert set_cpu_threads(0) == 1 and torch.get_num_threads() == 1
        assert set_cpu_threads(2) == 2  # a run's own setting wins
        monkeypatch.setenv("DIGIT_LAB_CPU_THREADS", "two")
        with pytest.raises(ValueError, match="DIGIT_LAB_CPU_THREADS must be a whole number"):
            set_cpu_threads(0)
    finally:
        torch.set_num_threads(before)
