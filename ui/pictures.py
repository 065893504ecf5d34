"""Pictures for the Inside page, as uint8 RGB arrays: attributions in red and blue over the digit, layers' outputs
and first filters as grids, the preprocessing's stages enlarged in whole pixels; and their captions' numbers."""

from __future__ import annotations

import math

import numpy as np

from mnist_core.insight.explain import Filters, Layer

RED, BLUE, WHITE = np.array([214, 39, 40]), np.array([31, 119, 180]), np.array([255, 255, 255])


def signed_colours(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Blue (negative) - white (0) - red (positive), scaled to the largest magnitude (or `scale`)."""
    top = scale if scale else float(np.abs(values).max()) or 1.0
    v = np.clip(values / top, -1, 1)[..., None]
    out = np.where(v >= 0, WHITE + (RED - WHITE) * v, WHITE + (BLUE - WHITE) * -v)
    return out.round().astype(np.uint8)


def activation_colours(values: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Black (0) through purple and orange to pale yellow (the strongest), like a glowing detector."""
    top = scale if scale else float(values.max()) or 1.0
    v = np.clip(values / top, 0, 1)
    stops = np.array([[0, 0, 0], [80, 18, 123], [229, 89, 52], [252, 253, 191]], float)
    pos = v * (len(stops) - 1)
    lo = np.minimum(pos.astype(int), len(stops) - 2)
    frac = (pos - lo)[..., None]
    return (stops[lo] * (1 - frac) + stops[lo + 1] * frac).round().astype(np.uint8)


def enlarge(rgb: np.ndarray, zoom: int) -> np.ndarray:
    """Nearest-neighbour enlargement, so each pixel shows as a crisp block."""
    return rgb.repeat(zoom, 0).repeat(zoom, 1)


def tile(images: np.ndarray, columns: int, zoom: int, gap: int = 2) -> np.ndarray:
    """(n, h, w, 3) uint8 pictures -> one grid picture with a white gap between them."""
    n, h, w = images.shape[:3]
    rows = math.ceil(n / columns)
    cell_h, cell_w = h * zoom + gap, w * zoom + gap
    grid = np.full((rows * cell_h - gap, min(n, columns) * cell_w - gap, 3), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[r * cell_h : r * cell_h + h * zoom, c * cell_w : c * cell_w + w * zoom] = enlarge(images[i], zoom)
    return grid


def heatmap(attribution: np.ndarray, image28: np.ndarray, zoom: int = 6, scale: float | None = None) -> np.ndarray:
    """The attribution in red/blue over a faint grey copy of the digit, so the colour can be placed on the ink."""
    top = scale if scale else float(np.abs(attribution).max()) or 1.0
    alpha = np.clip(np.abs(attribution) / top, 0, 1)[..., None]
    base = (255 - 0.3 * image28.astype(float))[..., None].repeat(3, -1)
    colour = np.where(attribution[..., None] >= 0, RED, BLUE)
    return enlarge((base * (1 - alpha) + colour * alpha).round().astype(np.uint8), zoom)


def feature_maps_picture(layer: Layer, cell: int = 52) -> np.ndarray:
    """A convolution layer's maps side by side, each about `cell` pixels wide, on one brightness scale so that
    the detectors that fired hardest stand out."""
    maps = layer.values
    zoom = max(1, round(cell / maps.shape[-1]))
    return tile(activation_colours(maps, float(maps.max()) or 1.0), 16 if len(maps) >= 32 else 8, zoom)


def filters_picture(filters: Filters, cell: int = 52) -> np.ndarray:
    """Each filter in red/blue on its own scale: a weak filter's pattern matters as much as a strong one's."""
    w = filters.weights
    scaled = w / np.maximum(np.abs(w).reshape(len(w), -1).max(1), 1e-12)[:, None, None]
    return tile(signed_colours(scaled, 1.0), 16 if len(w) >= 32 else 8, max(1, round(cell / w.shape[-1])))


def ink_picture(ink: np.ndarray, side: int = 112) -> np.ndarray:
    """A stage of the preprocessing (float ink or uint8) as a white-on-black picture; small ones are enlarged in
    whole pixels so they stay crisp instead of blurred by the browser."""
    gray = ink if ink.dtype == np.uint8 else (np.clip(ink, 0, 1) * 255).round().astype(np.uint8)
    zoom = max(1, side // max(gray.shape))
    return enlarge(np.repeat(gray[..., None], 3, -1), zoom)


def colour_scale(maps: list[np.ndarray]) -> float:
    """The magnitude shown at full colour for maps compared side by side: a high percentile rather than the
    maximum, since integrated gradients put a few extreme values on stroke ends that would leave the rest faint."""
    values = np.abs(np.concatenate([m.ravel() for m in maps]))
    values = values[values > 0]
    return float(np.percentile(values, 98)) if len(values) else 1.0


def percent(p: float) -> str:
    """A probability for a caption: '<0.1%' rather than a '0.0%' that reads as impossible."""
    return "<0.1%" if p < 0.001 else f"{p:.1%}"
