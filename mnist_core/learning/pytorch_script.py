"""One training run as a standalone PyTorch script a learner can read, change and run.

`pytorch_script(config, language)` writes out what `train` does with `config`, in plain PyTorch: the network's
own class source (taken from models.py, so a model added there is covered without a change here), the idx files
read as `load_folder` reads them, the seeded train_size subsample and val_size hold-out, normalisation, the
engine's augmentation, the optimizer and its schedule, label smoothing, and a score on the test split printed as the
script's last line (`test accuracy: 0.9871`). Each block has a comment in the interface's language saying what it
does and why, in the manner of the Chinese PyTorch tutorials Digit Lab grew from.

The seed is used as the engine uses it: one seeded shuffle picks the train_size images, another the held-out
ones, the global seed is set just before the network is built, and one more seeded generator gives each epoch's
order and, in the same stream, the augmentation's random draws. The script trains in float32 and in the default
memory layout (the engine may use bfloat16 and channels_last for speed), so its accuracy is as close to the
engine's as two seeds are to each other, not bit for bit the same.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from functools import cache
from pathlib import Path
from string import Template

from mnist_core.i18n import DEFAULT, N_, translations
from mnist_core.learning import models
from mnist_core.learning.config import TrainConfig
from mnist_core.learning.models import MODELS, count_parameters
from mnist_core.learning.recipes import RECIPES

RESULT_PREFIX = "test accuracy: "  # the script's last line, in every language: tools and tests read it
# The imports every script has; the model's own source may ask for more (models.py's imports, as written there).
BASE_IMPORTS = ("import torch", "from torch import nn", "from torch.nn import functional as F")

COMMENTS = {
    "title": N_("Digit Lab: one training run as a standalone PyTorch script."),
    "recipe": N_("It starts from the recipe {recipe} ({title}), with the settings chosen on top."),
    "no_recipe": N_("It trains with the settings below; they come from no recipe."),
    "model": N_("Model: {model} ({model_title}), {n:,} weights to learn."),
    "how": N_("Run it with a folder of MNIST idx files (train-* and t10k-*, gzip-compressed or not):"),
    "how_download": N_(
        "Without --data-dir, torchvision downloads MNIST into ./data first. The script prints the held-out "
        "accuracy after every epoch, and the test accuracy on its last line."
    ),
    "imports": N_(
        "Only PyTorch and Python's own modules are needed; torchvision is imported only when MNIST has to be "
        "downloaded."
    ),
    "settings": N_(
        "The settings of this run, as Digit Lab had them (TRAIN_SIZE = 0: every training image; VAL_SIZE = 0: no "
        "held-out score after each epoch). Change one and run the script again to see what it does."
    ),
    "read_idx": N_(
        "Read one idx file, the format MNIST comes in: a small header (a type code, then the size of each "
        "dimension), then the values, one byte each. Image files hold (N, 28, 28) pixels from 0 (background) to "
        "255 (ink); label files hold N digits."
    ),
    "find": N_(
        "The names an idx file may go by, plain or gzip-compressed (copies from Kaggle use a dot instead of the "
        "dash): Digit Lab looks for the same ones, in this order."
    ),
    "load": N_(
        "Load the training set (train-*) and the test set (t10k-*) from one folder. A folder laid out as "
        "torchvision leaves it (MNIST/raw inside) works too."
    ),
    "download": N_(
        "No folder given: torchvision downloads MNIST into ./data/MNIST/raw, and the files are read from there."
    ),
    "subsample": N_(
        "Keep only n images (0: all of them), picked by a shuffle that the seed fixes: the same seed always "
        "picks the same images."
    ),
    "prepare": N_(
        "Turn bytes into the numbers the network reads: scale them to 0-1, then subtract the mean and divide by "
        "the standard deviation (normalisation), so that the inputs are centred around 0."
    ),
    "prepare_augment": N_(
        "Training batches are augmented before normalisation, so that the empty border an image is moved away from "
        "stays background."
    ),
    "augment": N_(
        "Data augmentation: turn, scale and shift each image a little, at random, so that the network learns the "
        "digit, not its exact position and size. One affine transform per image, applied to the whole batch at once."
    ),
    "model_source": N_("The network, exactly as Digit Lab defines it (mnist_core/learning/models.py)."),
    "build": N_("Build this run's network."),
    "device": N_("Train on a GPU when there is one (CUDA, or Apple's MPS), else on the CPU."),
    "accuracy": N_(
        "The share of images the network reads correctly. model.eval() switches dropout and batch "
        "normalisation to their testing behaviour; torch.no_grad() skips the gradients, which scoring does not need."
    ),
    "args": N_("The command line: where the MNIST files are, and which device to use."),
    "threads": N_("Use as many CPU threads as the settings say."),
    "data": N_("1. The data: the training set to learn from, and the test set to score on."),
    "train_size": N_("Train on only TRAIN_SIZE of the training images, if the settings ask for fewer."),
    "val_size": N_(
        "The held-out images scored after every epoch, to watch the network learn (validation): VAL_SIZE of the "
        "test images, picked with the seed. They are never trained on."
    ),
    "seed_model": N_(
        "2. The network. Fix the seed first: its weights start out random, and the same seed gives the same start."
    ),
    "generator": N_(
        "A random generator of its own, seeded too, for the order of the images in each epoch and the "
        "augmentation: the run can be repeated exactly."
    ),
    "loss": N_("3. The loss: cross-entropy between the network's scores (logits) and the right labels."),
    "loss_smoothing": N_(
        "3. The loss: cross-entropy between the network's scores (logits) and the right labels, with label "
        "smoothing: part of each target is spread over the other digits, so that the network is not pushed to be "
        "100% sure."
    ),
    "opt_adamw": N_(
        "4. The optimizer: AdamW adapts the step of every weight to its recent gradients and, separately, shrinks "
        "every weight a little at every step (weight decay)."
    ),
    "opt_adam": N_(
        "4. The optimizer: Adam adapts the step of every weight to its recent gradients (weight decay, if any, "
        "is added to the gradients)."
    ),
    "opt_sgd": N_(
        "4. The optimizer: SGD takes one step size for every weight; momentum keeps part of the previous steps' "
        "direction, which smooths the way down."
    ),
    "opt_adadelta": N_(
        "4. The optimizer: Adadelta adapts each weight's step from its recent gradients and steps, as in the "
        "PyTorch MNIST example (its learning rate scales those steps)."
    ),
    "sched_onecycle": N_(
        "5. The learning rate schedule: one cycle, rising to LEARNING_RATE over the first quarter of the steps, then "
        "falling to almost zero, one change per batch. A run too short for a warm-up keeps the rate fixed."
    ),
    "sched_step": N_("5. The learning rate schedule: multiply the learning rate by STEP_GAMMA after every epoch."),
    "sched_none": N_("5. No schedule: the learning rate stays the same for the whole run."),
    "epoch": N_(
        "6. Training: in each epoch the network sees every training image once, in a new random order, a batch "
        "at a time."
    ),
    "batch": N_(
        "One batch: the forward pass gives the scores, the loss says how wrong they are, backward() computes the "
        "gradients, and the optimizer corrects the weights."
    ),
    "step_epoch": N_("The schedule lowers the learning rate once the epoch is over."),
    "validate": N_("After every epoch, score the held-out images, to see the network learn."),
    "test": N_(
        "7. Score the network on the test set, images it never trained on: the last line is the test accuracy, "
        "the share of test images it reads correctly."
    ),
}
MESSAGES = {
    "epoch_line": N_("epoch {epoch}/{epochs}: held-out accuracy {accuracy:.2%}"),
    "no_files": N_("no MNIST idx files (train-* and t10k-*) in {folder}"),
}

COMMENT_WIDTH = 100  # columns, the comment's "# " and indentation included
CLOSING = set("，。；：、）！？」』")  # Chinese punctuation that never starts a line
EMPTY = "\x00"  # stands for an optional block a config does not have: its line is left out

OPTIMIZERS = {
    "adamw": "torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
    "adam": "torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
    "sgd": "torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)",
    "adadelta": "torch.optim.Adadelta(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)",
}

# The script, with `#> key` lines standing for the comment COMMENTS[key] (in the run's language, indented as the
# marker) and $names for what depends on the config.
TEMPLATE = """\
#> title
#> $recipe_key
#> model
#> how
#     python $file --data-dir FOLDER
#> how_download

from __future__ import annotations

import argparse
import gzip
import math
import struct
from pathlib import Path

#> imports
$imports

#> settings
$settings

#> read_idx
def read_idx(path: Path) -> torch.Tensor:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(shape)


#> find
def find_idx(folder: Path, prefix: str, kind: str) -> Path | None:
    dotted = kind.replace("-idx", ".idx")
    for name in (
        f"{prefix}-{kind}-ubyte",
        f"{prefix}-{kind}-ubyte.gz",
        f"{prefix}-{dotted}-ubyte",
        f"{prefix}-{dotted}-ubyte.gz",
    ):
        if (folder / name).is_file():
            return folder / name
    return None


#> load
def load_mnist(folder: Path):
    if find_idx(folder, "train", "images-idx3") is None and (folder / "MNIST" / "raw").is_dir():
        folder = folder / "MNIST" / "raw"
    splits = []
    for prefix in ("train", "t10k"):
        images_path, labels_path = find_idx(folder, prefix, "images-idx3"), find_idx(folder, prefix, "labels-idx1")
        if images_path is None or labels_path is None:
            raise SystemExit($no_files.format(folder=folder))
        splits += [read_idx(images_path), read_idx(labels_path).long()]
    return splits


#> download
def download_mnist(root: Path) -> Path:
    from torchvision.datasets import MNIST

    for train in (True, False):
        MNIST(str(root), train=train, download=True)
    return root / "MNIST" / "raw"


#> subsample
def subsample(images: torch.Tensor, labels: torch.Tensor, n: int, seed: int):
    if n <= 0 or n >= len(labels):
        return images, labels
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))[:n]
    return images[order], labels[order]


$augment_block#> prepare
$prepare_note
def prepare(images: torch.Tensor$prepare_params) -> torch.Tensor:
    x = images.unsqueeze(1).float() / 255
$prepare_augment
    return (x - NORM_MEAN) / NORM_STD


#> model_source
$model_source


#> build
def build_model() -> nn.Module:
    return $constructor


#> device
def pick_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


#> accuracy
@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, device: torch.device) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(labels), 1000):
        x = prepare(images[start : start + 1000]).to(device)
        correct += (model(x).argmax(1).cpu() == labels[start : start + 1000]).sum().item()
    return correct / len(labels)


def main() -> None:
    #> args
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, help="a folder of MNIST idx files (default: download MNIST)")
    parser.add_argument("--device", default=DEVICE, choices=["auto", "cpu", "cuda", "mps"])
    args = parser.parse_args()
    device = pick_device(args.device)
$threads

    #> data
    folder = args.data_dir if args.data_dir is not None else download_mnist(Path("data"))
    train_images, train_labels, test_images, test_labels = load_mnist(folder)
    #> train_size
    train_images, train_labels = subsample(train_images, train_labels, TRAIN_SIZE, SEED)
    #> val_size
    val_images, val_labels = subsample(test_images, test_labels, VAL_SIZE, SEED)

    #> seed_model
    torch.manual_seed(SEED)
    model = build_model().to(device)
    #> generator
    generator = torch.Generator().manual_seed(SEED)

    #> $loss_key
    criterion = nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    #> $optimizer_key
    optimizer = $optimizer
    steps_per_epoch = math.ceil(len(train_labels) / BATCH_SIZE)
    #> $scheduler_key
$scheduler

    #> epoch
    for epoch in range(1, EPOCHS + 1):
        model.train()
        order = torch.randperm(len(train_labels), generator=generator)
        for start in range(0, len(order), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            #> batch
            x = prepare(train_images[batch]$generator_arg).to(device)
            y = train_labels[batch].to(device)
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
$batch_tick
$epoch_tick
        if VAL_SIZE > 0:
            #> validate
            held_out = accuracy(model, val_images, val_labels, device)
            message = $epoch_line
            print(message.format(epoch=epoch, epochs=EPOCHS, accuracy=held_out))

    #> test
    print(f"$result_prefix{accuracy(model, test_images, test_labels, device):.4f}")


if __name__ == "__main__":
    main()
"""

AUGMENT_BLOCK = """#> augment
def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    r = torch.rand(len(x), 4, generator=generator) * 2 - 1
    angle, scale, shift = r[:, 0] * 0.2, 1 + r[:, 1] * 0.1, r[:, 2:] * 0.12
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")


"""

SCHEDULERS = {
    "onecycle": (
        "    total_steps = EPOCHS * steps_per_epoch\n"
        "    scheduler = None\n"
        "    if total_steps >= 8:\n"
        "        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, LEARNING_RATE, total_steps=total_steps, "
        "pct_start=0.25)",
        "            if scheduler is not None:\n                scheduler.step()",
        EMPTY,
    ),
    "step": (
        "    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=STEP_GAMMA)",
        EMPTY,
        "        #> step_epoch\n        scheduler.step()",
    ),
    "none": (EMPTY, EMPTY, EMPTY),
}


def pytorch_script(config: TrainConfig, language: str = DEFAULT) -> str:
    """The standalone script that trains `config` as `train` does and prints the test accuracy last, commented in
    `language` ("en" or "zh"). Raises ConfigError for a config that training would refuse."""
    config.validate()
    tr = translations(language).gettext
    spec = MODELS[config.model]
    recipe = RECIPES.get(config.recipe)
    source, constructor, extra_imports = model_source(config.model)
    set_up, batch_tick, epoch_tick = SCHEDULERS[config.scheduler]
    values = dict(
        recipe_key="recipe" if recipe else "no_recipe",
        imports="\n".join([*BASE_IMPORTS, *(i for i in extra_imports if i not in BASE_IMPORTS)]),
        settings=_settings(config),
        no_files=_literal(tr(MESSAGES["no_files"])),
        file=script_filename(config),
        augment_block=AUGMENT_BLOCK if config.augment else "",
        prepare_note="#> prepare_augment" if config.augment else EMPTY,
        prepare_params=", generator: torch.Generator | None = None" if config.augment else "",
        prepare_augment="    if generator is not None:\n        x = augment(x, generator)" if config.augment else EMPTY,
        model_source=source,
        constructor=constructor,
        threads=f"    #> threads\n    torch.set_num_threads({config.cpu_threads})" if config.cpu_threads else EMPTY,
        loss_key="loss_smoothing" if config.label_smoothing else "loss",
        optimizer_key=f"opt_{config.optimizer}",
        optimizer=OPTIMIZERS[config.optimizer],
        scheduler_key=f"sched_{config.scheduler}",
        scheduler=set_up,
        generator_arg=", generator" if config.augment else "",
        batch_tick=batch_tick,
        epoch_tick=epoch_tick,
        epoch_line=_literal(tr(MESSAGES["epoch_line"])),
        result_prefix=RESULT_PREFIX,
    )
    text = Template(TEMPLATE).substitute(values)
    fields = dict(
        recipe=config.recipe,
        title=tr(recipe.title) if recipe else "",
        model_title=tr(spec.title),
        model=config.model,
        n=count_parameters(config.model),
        file=script_filename(config),
    )
    lines = []
    for line in text.splitlines():
        if line.strip() == EMPTY:  # an optional block this config does not have
            continue
        marker = re.fullmatch(r"( *)#> (\w+)", line)
        if marker is None:
            lines.append(line)
            continue
        indent, key = marker.groups()
        comment = tr(COMMENTS[key]).format(**fields)
        lines += [f"{indent}# {part}" for part in wrap(comment, COMMENT_WIDTH - len(indent) - 2)]
    return "\n".join(lines) + "\n"


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns as an editor shows them (a Chinese character takes two), broken
    between words or between Chinese characters, never before a closing punctuation mark."""
    lines, line, used = [], "", 0
    for token in re.findall(r"[!-~]+|\s+|.", text):  # a run of ASCII, a space, or one other character
        size = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in token)
        if token.isspace():
            if line:
                line, used = line + " ", used + 1
            continue
        if line and used + size > width and token not in CLOSING:
            lines.append(line.rstrip())
            line, used = "", 0
        line, used = line + token, used + size
    return [*lines, line.rstrip()] if line.strip() else lines


def _settings(config: TrainConfig) -> str:
    """The settings block: one constant per knob the script uses, with the config's value."""
    rows = [
        ("MODEL", config.model),
        ("EPOCHS", config.epochs),
        ("BATCH_SIZE", config.batch_size),
        ("LEARNING_RATE", config.lr),
        ("WEIGHT_DECAY", config.weight_decay),
    ]
    if config.optimizer == "sgd":
        rows.append(("MOMENTUM", config.momentum))
    if config.scheduler == "step":
        rows.append(("STEP_GAMMA", config.step_gamma))
    rows += [
        ("LABEL_SMOOTHING", config.label_smoothing),
        ("TRAIN_SIZE", config.train_size),
        ("VAL_SIZE", config.val_size),
        ("NORM_MEAN", config.norm_mean),
        ("NORM_STD", config.norm_std),
        ("SEED", config.seed),
        ("DEVICE", config.device),
    ]
    return "\n".join(f"{name} = {_literal(value) if isinstance(value, str) else repr(value)}" for name, value in rows)


def _literal(text: str) -> str:
    """A Python string literal in double quotes, as the rest of the script writes them (Chinese kept as is)."""
    return json.dumps(text, ensure_ascii=False)


def script_filename(config: TrainConfig) -> str:
    """What the script is saved as: digit_lab_<recipe or model>.py, a name Python could import."""
    stem = config.recipe if config.recipe in RECIPES else config.model
    return f"digit_lab_{re.sub(r'[^0-9A-Za-z]+', '_', stem)}.py"


def _parse(text: str, tries: int = 3) -> ast.Module:
    """ast.parse, tried again on Python 3.11's spurious "AST constructor recursion depth mismatch": its AST
    converter keeps one depth count for all threads (CPython gh-106905), and Streamlit parses every page it runs."""
    for attempt in range(tries):
        try:
            return ast.parse(text)
        except SystemError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


@cache
def _models_module() -> tuple[str, dict[str, ast.stmt], dict[str, ast.stmt], dict[str, ast.expr]]:
    """models.py parsed once: its source, its top-level definitions and imports by the names they bind, and each
    registered model's build expression (ModelSpec's `build`) by the model's name."""
    text = Path(models.__file__).read_text(encoding="utf-8")
    tree = _parse(text)
    definitions: dict[str, ast.stmt] = {}
    imports: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            definitions[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        definitions[name.id] = node
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "module", "") != "__future__":
            for alias in node.names:
                imports[(alias.asname or alias.name).split(".")[0]] = node
    builds: dict[str, ast.expr] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ModelSpec":
            keywords = {k.arg: k.value for k in node.keywords}
            name = keywords.get("name", node.args[0] if node.args else None)
            build = keywords.get("build", node.args[3] if len(node.args) > 3 else None)
            if isinstance(name, ast.Constant) and build is not None:
                builds[name.value] = build
    return text, definitions, imports, builds


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def model_source(name: str) -> tuple[str, str, list[str]]:
    """(the source of every class and helper in models.py that model `name` is built from, in the file's order;
    the expression that builds it, e.g. ``MLP((64, 64, 64))``; the import lines that source needs)."""
    text, definitions, imports, builds = _models_module()
    if name not in builds:
        raise KeyError(f"model {name!r} is not registered with a ModelSpec(...) in {Path(models.__file__).name}")
    build = builds[name]
    constructor = ast.unparse(build.body if isinstance(build, ast.Lambda) else ast.Call(build, [], []))
    needed: set[str] = set()
    todo = _names(build.body if isinstance(build, ast.Lambda) else build)
    while todo:
        ref = todo.pop()
        if ref in definitions and ref not in needed:
            needed.add(ref)
            todo |= _names(definitions[ref])
    lines = text.splitlines()
    nodes = sorted({id(definitions[n]): definitions[n] for n in needed}.values(), key=lambda node: node.lineno)
    blocks = []
    for node in nodes:
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        blocks.append("\n".join(lines[first - 1 : node.end_lineno]))
    used = set().union(*(_names(node) for node in nodes), _names(build))
    import_lines = []
    for ref in sorted(used & set(imports)):
        node = imports[ref]
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mnist_core"):
            continue  # an engine import (N_ for titles) that the network's code itself does not run
        alias = next(a for a in node.names if (a.asname or a.name).split(".")[0] == ref)
        line = ast.unparse(type(node)(**{**node.__dict__, "names": [alias]}))
        if line not in import_lines:
            import_lines.append(line)
    return "\n\n\n".join(blocks), constructor, import_lines
