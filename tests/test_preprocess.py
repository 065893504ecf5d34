"""Drawing preprocessing: real MNIST digits re-drawn the way people draw on a canvas (big, thick,
off-centre, on black, on transparent, dark on paper) must still be read by the trained model, and the
28x28 image it sees must look like MNIST. Uploads: odd formats either work or raise ImageError."""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.ndimage import center_of_mass, maximum_filter

from mnist_core.data.preprocess import ImageError, ink_map, load_image, to_input, to_mnist
from mnist_core.insight.inference import predict_image
from mnist_core.learning.models import predict_probabilities
from mnist_core.store.checkpoints import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_cpu_thread")


@pytest.fixture(scope="module")
def trained(trained_checkpoint):
    return load_checkpoint(trained_checkpoint)


@pytest.fixture(scope="module")
def digits(sample):
    """Real handwritten digits the model never trained on: the sample's test part."""
    return sample.test.images.numpy(), sample.test.labels.numpy()


def redraw(digit: np.ndarray, canvas: int, scale: int, thicken: int, rng) -> np.ndarray:
    """The digit scaled up `scale` times with strokes thickened, at a random spot near a corner of a
    black canvas: a grayscale (canvas, canvas) array."""
    size = 28 * scale
    big = np.asarray(Image.fromarray(digit).resize((size, size), Image.BILINEAR))
    big = maximum_filter(big, size=thicken)
    out = np.zeros((canvas, canvas), np.uint8)
    slack = canvas - size
    y = rng.integers(0, slack // 4 + 1) if rng.random() < 0.5 else rng.integers(slack - slack // 4, slack + 1)
    x = rng.integers(0, slack // 4 + 1) if rng.random() < 0.5 else rng.integers(slack - slack // 4, slack + 1)
    out[y : y + size, x : x + size] = big
    return out


def read_all(trained, images) -> tuple[np.ndarray, list]:
    """The model's digit for each image via to_mnist, in one batch; also the 28x28 images."""
    model, ckpt = trained
    small = [to_mnist(img) for img in images]
    assert all(s is not None for s in small)
    x = torch.cat([to_input(s, ckpt.config.norm_mean, ckpt.config.norm_std) for s in small])
    return predict_probabilities(model, x).argmax(1).numpy(), small


def test_big_thick_off_centre_drawings_on_black_are_read_like_mnist(trained, digits):
    images, labels = digits[0][:240], digits[1][:240]
    rng = np.random.default_rng(0)
    canvases = []
    for d in images:
        g = redraw(d, canvas=400, scale=int(rng.integers(5, 11)), thicken=int(rng.integers(3, 12)), rng=rng)
        canvases.append(np.dstack([g, g, g, np.full_like(g, 255)]))  # opaque RGBA, as the canvas returns it
    predicted, small = read_all(trained, canvases)
    accuracy = (predicted == labels).mean()
    assert accuracy >= 0.90, accuracy
    # The same digits as 28x28 originals, straight into the model: the drawing path costs little.
    model, ckpt = trained
    x = torch.cat([to_input(d, ckpt.config.norm_mean, ckpt.config.norm_std) for d in images])
    direct = predict_probabilities(model, x).argmax(1).numpy()
    assert accuracy >= (direct == labels).mean() - 0.04


def test_the_model_sees_an_mnist_like_image(digits):
    rng = np.random.default_rng(1)
    for d in digits[0][:40]:
        g = redraw(d, canvas=300, scale=8, thicken=7, rng=rng)
        out = to_mnist(np.dstack([g, g, g, np.full_like(g, 255)]))
        assert out.shape == (28, 28) and out.dtype == np.uint8
        assert out.max() >= 200 and out[0].max() == out[-1].max() == out[:, 0].max() == out[:, -1].max() == 0
        rows, cols = np.nonzero(out > 0.2 * 255)
        longest = max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        assert 18 <= longest <= 21  # MNIST: longest side 20 px
        cy, cx = center_of_mass(out.astype(float))
        assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1  # centre of mass in the middle


def test_transparent_canvas_with_coloured_ink_is_read(trained, digits):
    images, labels = digits[0][240:360], digits[1][240:360]
    rng = np.random.default_rng(2)
    canvases = []
    for d in images:
        stroke = redraw(d, canvas=280, scale=6, thicken=5, rng=rng)
        rgba = np.zeros((280, 280, 4), np.uint8)
        rgba[..., :3] = (30, 60, 200)  # blue ink colour everywhere; only alpha says where the strokes are
        rgba[..., 3] = stroke
        canvases.append(rgba)
    predicted, _ = read_all(trained, canvases)
    assert (predicted == labels).mean() >= 0.90


def test_dark_ink_on_light_noisy_paper_is_read(trained, digits):
    images, labels = digits[0][360:480], digits[1][360:480]
    rng = np.random.default_rng(3)
    photos = []
    for d in images:
        stroke = redraw(d, canvas=280, scale=6, thicken=5, rng=rng).astype(np.float32)
        paper = 230 - stroke * 0.75 + rng.normal(0, 6, stroke.shape)  # grey-blue pencil on off-white, grainy
        rgb = np.clip(np.dstack([paper, paper + 3, paper + 8]), 0, 255).astype(np.uint8)
        photos.append(rgb)
    predicted, _ = read_all(trained, photos)
    assert (predicted == labels).mean() >= 0.90


def test_rgba_rgb_and_grayscale_versions_of_one_drawing_give_the_same_image(digits):
    g = redraw(digits[0][0], canvas=200, scale=5, thicken=5, rng=np.random.default_rng(4))
    versions = [g, g[..., None], np.dstack([g, g, g]), np.dstack([g, g, g, np.full_like(g, 255)])]
    outs = [to_mnist(v) for v in versions]
    assert all(np.array_equal(o, outs[0]) for o in outs)


def test_a_few_transparent_corner_pixels_do_not_turn_a_scan_into_a_blob(digits):
    """An opaque white scan whose rounded corners are transparent is still dark ink on paper."""
    g = redraw(digits[0][0], canvas=200, scale=5, thicken=5, rng=np.random.default_rng(5))
    paper = 255 - g
    scan = np.dstack([paper, paper, paper, np.full_like(paper, 255)])
    rounded = scan.copy()
    for y, x in ((0, 0), (0, 1), (1, 0), (0, 199), (199, 0), (199, 199)):
        rounded[y, x, 3] = 0
    assert np.array_equal(to_mnist(rounded), to_mnist(scan))
    assert np.array_equal(to_mnist(scan), to_mnist(g))


@pytest.mark.parametrize(
    "what, image",
    [
        ("empty black canvas", np.dstack([np.zeros((280, 280, 3), np.uint8), np.full((280, 280), 255, np.uint8)])),
        ("empty transparent canvas", np.zeros((280, 280, 4), np.uint8)),
        ("blank white page", np.full((300, 200, 3), 255, np.uint8)),
        ("uniform grey", np.full((64, 64), 128, np.uint8)),
        ("faint paper grain", (240 + np.random.default_rng(0).normal(0, 2, (100, 100))).astype(np.uint8)),
        ("a 2-pixel speck", np.pad(np.full((1, 2), 255, np.uint8), ((50, 50), (50, 50)))),
    ],
)
def test_no_digit_gives_no_prediction(what, image, trained):
    assert to_mnist(image) is None
    model, ckpt = trained
    prediction = predict_image(model, ckpt.config, image)
    assert prediction.digit is None and prediction.probabilities is None and prediction.image28 is None
    assert prediction.to_dict() == {"digit": None, "confidence": 0.0, "probabilities": None}


def test_predict_image_reports_what_the_model_saw(trained, digits):
    model, ckpt = trained
    g = redraw(digits[0][7], canvas=280, scale=7, thicken=7, rng=np.random.default_rng(6))
    prediction = predict_image(model, ckpt.config, np.dstack([g, g, g, np.full_like(g, 255)]))
    assert prediction.digit == digits[1][7]
    assert prediction.image28.shape == (28, 28)
    assert prediction.confidence == pytest.approx(prediction.probabilities.max())
    assert prediction.probabilities.sum() == pytest.approx(1, abs=1e-5)
    top = prediction.top(3)
    assert top[0] == (prediction.digit, pytest.approx(prediction.confidence)) and top[0][1] >= top[1][1] >= top[2][1]


def test_an_array_that_is_not_an_image_raises_image_error():
    with pytest.raises(ImageError, match="grayscale, RGB or RGBA"):
        ink_map(np.zeros((10, 10, 2), np.uint8))


# ----- uploads: load_image -----


def encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def on_paper(digit: np.ndarray, scale: int = 4) -> Image.Image:
    """A real digit as dark ink on white paper, scaled up like a scan."""
    return Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.BILINEAR)


def reads(trained, data: bytes) -> int | None:
    model, ckpt = trained
    return predict_image(model, ckpt.config, load_image(data)).digit


@pytest.fixture(scope="module")
def easy(trained, digits):
    """Ten test digits, one of each class, that the model reads correctly from their 28x28 originals."""
    model, ckpt = trained
    chosen = {}
    for d, y in zip(*digits):
        if y not in chosen and predict_image(model, ckpt.config, d).digit == y:
            chosen[int(y)] = d
        if len(chosen) == 10:
            break
    return chosen


def test_png_and_jpeg_uploads_are_read(trained, easy):
    for y, d in easy.items():
        assert reads(trained, encode(on_paper(d), "PNG")) == y
    jpeg_right = sum(
        reads(trained, encode(on_paper(d).convert("RGB"), "JPEG", quality=85)) == y for y, d in easy.items()
    )
    assert jpeg_right >= 9


def test_16_bit_png_is_read(trained, easy):
    for y, d in easy.items():
        deep = np.asarray(on_paper(d), np.uint16) * 257  # 0..65535
        image = Image.fromarray(deep)
        assert image.mode.startswith("I;16")
        assert reads(trained, encode(image, "PNG")) == y


def test_cmyk_jpeg_is_read(trained, easy):
    right = 0
    for y, d in easy.items():
        image = on_paper(d).convert("CMYK")
        assert image.mode == "CMYK"
        right += reads(trained, encode(image, "JPEG", quality=90)) == y
    assert right >= 9


def test_animated_gif_uses_its_first_frame(trained, easy):
    first, second = on_paper(easy[3]), on_paper(easy[7])
    data = encode(first.convert("P"), "GIF", save_all=True, append_images=[second.convert("P")], duration=200, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert reads(trained, data) == 3


def png(width: int, height: int, bit_depth: int = 8, complete: bool = False) -> bytes:
    """A grayscale PNG of width x height black pixels; with complete=False only the header is honest
    (a decompression bomb costs nothing to make)."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    if complete:  # every row: filter byte 0 + the packed pixels, all zero; compresses ~1000:1
        pack = zlib.compressobj(9)
        row = bytes(1 + (width * bit_depth + 7) // 8)
        pixels = b"".join(pack.compress(row * 1000) for _ in range(height // 1000)) + pack.flush()
    else:
        pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def test_a_huge_image_is_refused_before_it_is_decoded():
    bilevel = png(20000, 20000, bit_depth=1, complete=True)  # a real, valid 400-megapixel image
    assert len(bilevel) < 200_000
    same_kind = Image.open(io.BytesIO(png(3000, 2000, bit_depth=1, complete=True)))
    same_kind.load()  # the builder makes real, decodable images; only the size differs
    assert same_kind.size == (3000, 2000) and same_kind.mode == "1"
    for data in (bilevel, png(20000, 20000), png(9000, 9000)):
        with pytest.raises(ImageError, match="too large|limit"):
            load_image(data)


@pytest.mark.parametrize(
    "what", ["text file", "empty", "truncated PNG", "truncated JPEG", "PNG header only", "PDF", "SVG"]
)
def test_files_that_are_not_usable_images_raise_image_error(what, easy):
    png, jpeg = encode(on_paper(easy[0]), "PNG"), encode(on_paper(easy[0]).convert("RGB"), "JPEG")
    data = {
        "text file": b"7\n",
        "empty": b"",
        "truncated PNG": png[: len(png) // 2],
        "truncated JPEG": jpeg[: len(jpeg) // 2],
        "PNG header only": png[:33],
        "PDF": b"%PDF-1.4\n%\xe2\xe3",
        "SVG": b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
    }[what]
    with pytest.raises(ImageError) as err:
        load_image(data)
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_damaged_image_bytes_never_raise_anything_but_image_error(easy):
    """Random corruption of real files: each either decodes or raises ImageError, never another type."""
    base = on_paper(easy[5])
    files = [
        encode(base, "PNG"),
        encode(base.convert("RGB"), "JPEG"),
        encode(base.convert("P"), "GIF"),
        encode(base, "BMP"),
        encode(base, "TIFF"),
        encode(base, "WEBP"),
    ]
    rng = random.Random(0)
    for original in files:
        for _ in range(25):
            data = bytearray(original)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(len(data))]
            try:
                result = load_image(bytes(data))
            except ImageError:
                continue
            assert result.dtype == np.uint8 and result.ndim == 3 and result.shape[2] == 4


def test_load_image_returns_rgba_uint8_and_shrinks_large_photos(easy):
    big = on_paper(easy[1], scale=60)  # 1680 x 1680
    arr = load_image(encode(big, "PNG"))
    assert arr.dtype == np.uint8 and arr.shape[2] == 4 and max(arr.shape[:2]) <= 1024
