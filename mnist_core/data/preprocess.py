"""Turn a drawing or a photo of a digit into the 28x28 image an MNIST model expects.

MNIST digits are white on black, cropped to the ink, scaled so the longest side is 20 px (with
anti-aliasing) and placed in a 28x28 field so that their centre of mass sits at the centre. A canvas
drawing is nothing like that until it goes through the same steps, which is why a model that scores
99% on the test set can still misread a drawing that skips them.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_core.i18n import _

INK_THRESHOLD = 0.2  # fraction of full ink that counts as "ink" when cropping
MIN_INK_PIXELS = 4  # fewer than this (at working size) is treated as an empty drawing
MAX_SIDE = 512  # bigger inputs are shrunk first: the result is 28x28 anyway
MAX_PIXELS = 50_000_000  # refuse decompression bombs before decoding


class ImageError(ValueError):
    """An upload that is not a usable image; the message says why in one line."""


def load_image(data: bytes) -> np.ndarray:
    """Decode uploaded bytes (PNG, JPEG, GIF, TIFF, 16-bit, CMYK, ...) into an RGBA uint8 array."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(
                    _("image is {width}x{height} pixels; the limit is {limit:,} pixels").format(
                        width=image.width, height=image.height, limit=MAX_PIXELS
                    )
                )
            image.seek(0)  # animated GIF/PNG: use the first frame
            image = ImageOps.exif_transpose(image)  # phone photos carry their rotation in EXIF
            image.thumbnail((MAX_SIDE * 2, MAX_SIDE * 2))
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(image, dtype=np.float64)
                span = arr.max() - arr.min()
                arr = ((arr - arr.min()) / span * 255) if span else np.zeros_like(arr)
                image = Image.fromarray(arr.astype(np.uint8))
            return np.asarray(image.convert("RGBA"))
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(_("image is too large to open safely (decompression bomb protection)")) from None
    except UnidentifiedImageError:
        raise ImageError(_("this file is not an image Digit Lab can read (try PNG or JPEG)")) from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(_("the image is damaged or truncated ({reason})").format(reason=str(e)[:100])) from None


def ink_map(image: np.ndarray) -> np.ndarray:
    """Any grayscale/RGB/RGBA image -> float ink in [0, 1]: 1 = stroke, 0 = background.

    Handles a black canvas with light ink, a transparent canvas (ink is where alpha is), and dark
    ink on light paper (detected from the border, which is background in any sensible drawing).
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        gray, alpha = a.astype(np.float32) / 255.0, None
    elif a.ndim == 3 and a.shape[2] in (3, 4):
        rgb = a[:, :, :3].astype(np.float32) / 255.0
        gray = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        alpha = a[:, :, 3].astype(np.float32) / 255.0 if a.shape[2] == 4 else None
    else:
        raise ImageError(
            _("expected a grayscale, RGB or RGBA image, got an array of shape {shape}").format(shape=a.shape)
        )
    if alpha is not None and np.median(np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])) < 0.5:
        # A transparent background: the strokes are wherever something was painted, whatever its colour.
        # (Judged from the border: a few transparent pixels, e.g. rounded corners of an opaque scan, are not
        # a transparent canvas, and treating them as one would turn the whole page into "ink".)
        return alpha if alpha.max() > 0 else np.zeros_like(alpha)
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    background = float(np.median(border))
    ink = (background - gray) if background > 0.5 else (gray - background)
    ink = np.clip(ink, 0, None)
    top = float(np.percentile(ink[ink > 0], 99)) if np.any(ink > 0) else 0.0
    if top < 0.15:  # too faint to be a digit: a blank canvas, uniform image or paper texture
        return np.zeros_like(gray)
    ink = np.clip(ink / top, 0, 1)
    ink[ink < 0.15] = 0  # paper grain and JPEG noise
    return ink


@dataclass
class Steps:
    """Each stage of to_mnist, for showing a learner how a drawing becomes the model's input.

    Arrays are float ink in [0, 1] (1 = stroke) except `digit28`, the uint8 image the model gets. Stages after
    the first missing one are None: no ink means no crop, and so on.
    """

    ink: np.ndarray  # the whole input as ink, shrunk to at most MAX_SIDE
    crop: np.ndarray | None = None  # cut to the ink's bounding box
    small: np.ndarray | None = None  # longest side scaled to 20 px, anti-aliased
    digit28: np.ndarray | None = None  # placed in 28x28 by its centre of mass


def to_mnist_steps(image: np.ndarray) -> Steps:
    """to_mnist, keeping every intermediate image."""
    ink = ink_map(image)
    if ink.shape[0] > MAX_SIDE or ink.shape[1] > MAX_SIDE:
        scale = MAX_SIDE / max(ink.shape)
        size = (max(1, round(ink.shape[1] * scale)), max(1, round(ink.shape[0] * scale)))
        ink = np.asarray(Image.fromarray(ink).resize(size, Image.BILINEAR))
    steps = Steps(ink)
    rows, cols = np.nonzero(ink > INK_THRESHOLD)
    if len(rows) < MIN_INK_PIXELS:
        return steps
    steps.crop = crop = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    # torch's antialiased bilinear resize = area-weighted downsampling, like MNIST's own preparation
    steps.small = small = (
        torch.nn.functional.interpolate(
            torch.from_numpy(np.ascontiguousarray(crop))[None, None],
            size=(new_h, new_w),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0, 0]
        .clamp(0, 1)
        .numpy()
    )
    total = small.sum()
    if total <= 0:
        return steps
    ys, xs = np.indices(small.shape)
    cy, cx = (ys * small).sum() / total, (xs * small).sum() / total
    top, left = int(round(14 - cy)), int(round(14 - cx))
    top, left = min(max(top, 0), 28 - new_h), min(max(left, 0), 28 - new_w)
    out = np.zeros((28, 28), np.float32)
    out[top : top + new_h, left : left + new_w] = small
    steps.digit28 = (out * 255).round().astype(np.uint8)
    return steps


def to_mnist(image: np.ndarray) -> np.ndarray | None:
    """The 28x28 uint8 MNIST-style image (white digit on black), or None when there is no digit."""
    return to_mnist_steps(image).digit28


def squash_28(ink: np.ndarray) -> np.ndarray:
    """An ink map (see ink_map) squashed whole to 28x28, without cropping or centring: what skipping the
    steps would give the model."""
    small = torch.nn.functional.interpolate(
        torch.from_numpy(np.ascontiguousarray(ink, dtype=np.float32))[None, None],
        size=(28, 28),
        mode="bilinear",
        antialias=True,
        align_corners=False,
    )
    return (small[0, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def to_input(digit28: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """A 28x28 uint8 image -> the normalised (1, 1, 28, 28) batch a model takes, as in training."""
    # data.normalize's arithmetic, written out: data reads image folders with this module, so no import back
    return (torch.from_numpy(np.ascontiguousarray(digit28))[None, None].float().div_(255.0) - mean) / std
