"""Checkpoints: models/<run-id>/weights.safetensors + meta.json. Nothing is ever unpickled.

A save writes into a hidden temporary folder and renames it into place, so a crash mid-save never
leaves a half-written checkpoint that gets listed. Loading checks the architecture, every tensor
name and shape, and refuses damaged files with a one-line CheckpointError.
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import load_file, save, save_file
from torch import nn

from .config import ConfigError, TrainConfig
from .data import REPO_ROOT
from .models import MODELS, build_model

WEIGHTS, META = "weights.safetensors", "meta.json"
FORMAT = "digit-lab-checkpoint/1"
_META_KEY = "digit_lab"  # where an exported single file keeps meta.json in its safetensors header
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class CheckpointError(Exception):
    """A checkpoint that cannot be saved or used; the message says why in one line."""


@dataclass
class Checkpoint:
    path: Path
    meta: dict

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def name(self) -> str:
        return self.meta.get("name") or self.path.name

    @property
    def accuracy(self) -> float | None:
        return (self.meta.get("metrics") or {}).get("accuracy")

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.meta.get("config", {}))


def default_models_dir() -> Path:
    return Path(os.environ.get("DIGIT_LAB_MODELS", REPO_ROOT / "models"))


def new_run_id(model_name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{model_name}-{os.urandom(2).hex()}"


def _write_json_atomic(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".meta-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(model: nn.Module, meta: dict, models_dir: str | Path | None = None, run_id: str | None = None) -> Path:
    """Write model + meta atomically as models_dir/<run_id>/ and return that folder."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    arch = meta.get("architecture")
    if arch not in MODELS:
        raise CheckpointError(f"meta must name a known architecture (got {arch!r})")
    run_id = run_id or new_run_id(arch)
    meta = _check_meta({"format": FORMAT, "run_id": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta},
                       "cannot save")  # the same checks as loading: never save what list/load would skip
    final = models_dir / run_id
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    _check_tensors(tensors, arch, "cannot save")  # never write a checkpoint that could not be loaded back
    tmp = None
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise CheckpointError(f"a checkpoint named {run_id} already exists")
        tmp = Path(tempfile.mkdtemp(dir=models_dir, prefix=".saving-"))
        os.chmod(tmp, 0o755)  # mkdtemp makes it owner-only; a checkpoint is an ordinary, shareable folder
        save_file(tensors, str(tmp / WEIGHTS), metadata={"format": FORMAT})
        _write_json_atomic(tmp / META, meta)
        os.replace(tmp, final)  # the one step that makes it visible
    except (OSError, SafetensorError) as e:  # safetensors reports a full disk as SafetensorError, not OSError
        raise CheckpointError(f"could not save the checkpoint in {models_dir}: {getattr(e, 'strerror', None) or e}") from None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _check_meta(meta, where: str) -> dict:
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where}: metadata is not a JSON object")
    arch = meta.get("architecture")
    if arch not in MODELS:
        raise CheckpointError(f"{where}: unknown architecture {arch!r} (known: {', '.join(MODELS)})")
    # Pages and the CLI read these fields directly, so a hand-edited meta.json with the wrong types must be
    # refused here rather than crash the models list later.
    for key, kind in (("config", dict), ("metrics", dict), ("dataset", dict), ("normalisation", dict),
                      ("history", list), ("name", str), ("created", str)):
        if meta.get(key) is not None and not isinstance(meta[key], kind):
            raise CheckpointError(f"{where}: metadata field {key!r} should be a {'JSON object' if kind is dict else kind.__name__}")
    accuracy = (meta.get("metrics") or {}).get("accuracy")
    if accuracy is not None and (isinstance(accuracy, bool) or not isinstance(accuracy, (int, float))):
        raise CheckpointError(f"{where}: metadata field metrics.accuracy should be a number")
    try:
        TrainConfig.from_dict(meta.get("config") or {}).validate()
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{where}: invalid training config in metadata ({e})") from None
    return meta


def read_meta(path: str | Path) -> dict:
    path = Path(path)
    try:
        return _check_meta(json.loads((path / META).read_text()), path.name)
    except FileNotFoundError:
        raise CheckpointError(f"{path} is not a checkpoint: {META} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path.name}: {META} is damaged ({e})") from None


def _check_tensors(tensors: dict[str, torch.Tensor], arch: str, where: str, model: nn.Module | None = None) -> None:
    """Every tensor name and shape of `arch` present, nothing else; else a one-line CheckpointError."""
    expected = (model or build_model(arch)).state_dict()
    missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(f"{where}: tensor names do not match {arch} "
                              f"(missing: {', '.join(missing[:3]) or '-'}; unexpected: {', '.join(extra[:3]) or '-'})")
    for key, value in expected.items():
        if tensors[key].shape != value.shape:
            raise CheckpointError(f"{where}: tensor {key} has shape {tuple(tensors[key].shape)}, "
                                  f"{arch} needs {tuple(value.shape)}")


def _model_from_tensors(tensors: dict[str, torch.Tensor], meta: dict, where: str) -> nn.Module:
    model = build_model(meta["architecture"])
    _check_tensors(tensors, meta["architecture"], where, model)
    model.load_state_dict(tensors)
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[nn.Module, Checkpoint]:
    """The model (CPU, eval mode) and its record; never unpickles."""
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"no checkpoint folder at {path}")
    meta = read_meta(path)
    try:
        tensors = load_file(str(path / WEIGHTS))
    except FileNotFoundError:
        raise CheckpointError(f"{path.name}: {WEIGHTS} is missing") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path.name}: {WEIGHTS} is damaged or not a safetensors file ({e})") from None
    return _model_from_tensors(tensors, meta, path.name), Checkpoint(path, meta)


@functools.lru_cache(maxsize=512)
def _meta_while_unchanged(path: str, inode: int, mtime_ns: int, size: int) -> dict:
    return read_meta(path)


def _listed_meta(path: Path) -> dict:
    """read_meta, remembered while meta.json stays the same file with the same time and size (every write is
    a new file renamed into place). Every page rerun lists the models folder, and each meta.json holds a
    whole training history: up to ~0.5 MB of JSON per model. The dict is shared: read it, never change it."""
    try:
        st = (path / META).stat()
    except OSError:
        return read_meta(path)  # raises the CheckpointError that says what is wrong
    return _meta_while_unchanged(str(path), st.st_ino, st.st_mtime_ns, st.st_size)


def list_checkpoints(models_dir: str | Path | None = None) -> list[Checkpoint]:
    """Complete, readable checkpoints, newest first. Temporary and foreign folders are skipped."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    found = []
    if not models_dir.is_dir():
        return found
    for child in models_dir.iterdir():
        if child.name.startswith(".") or not child.is_dir() or not (child / WEIGHTS).is_file():
            continue
        try:
            found.append(Checkpoint(child, _listed_meta(child)))
        except CheckpointError:
            continue
    return sorted(found, key=lambda c: (c.meta.get("created", ""), c.run_id), reverse=True)


def skipped_entries(models_dir: str | Path | None = None) -> list[str]:
    """Names in the models folder that are not usable checkpoints (for a note in the UI/CLI)."""
    models_dir = Path(models_dir) if models_dir else default_models_dir()
    if not models_dir.is_dir():
        return []
    good = {c.run_id for c in list_checkpoints(models_dir)}
    return sorted(p.name for p in models_dir.iterdir()
                  if not p.name.startswith(".") and p.name != "README.md" and p.name not in good)


def delete_checkpoint(path: str | Path) -> None:
    path = Path(path)
    read_meta(path)  # refuse to delete anything that is not one of ours
    # Rename first so a half-deleted folder is never listed as a checkpoint.
    trash = path.with_name(f".deleting-{path.name}-{os.urandom(3).hex()}")
    try:
        os.replace(path, trash)
    except OSError as e:
        raise CheckpointError(f"could not delete {path.name}: {e.strerror or e}") from None
    shutil.rmtree(trash, ignore_errors=True)


def rename_checkpoint(path: str | Path, name: str) -> dict:
    """Give a checkpoint a display name (the folder keeps its run id)."""
    name = name.strip()
    if not name or len(name) > 80 or not re.fullmatch(r"[\w .,:()+\-]+", name):
        raise CheckpointError("a name needs 1-80 letters, digits, spaces or . , : ( ) + - _")
    meta = read_meta(path)
    meta["name"] = name
    try:
        _write_json_atomic(Path(path) / META, meta)
    except OSError as e:
        raise CheckpointError(f"could not rename {Path(path).name}: {e.strerror or e}") from None
    return meta


def export_checkpoint(path: str | Path) -> bytes:
    """One self-contained .safetensors file (weights + meta.json in its header) for download."""
    model, ckpt = load_checkpoint(path)
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    return save(tensors, metadata={"format": FORMAT, _META_KEY: json.dumps(ckpt.meta)})


def import_checkpoint(data: bytes, models_dir: str | Path | None = None) -> Path:
    """Accept only a file made by export_checkpoint; anything else (a pickle above all) is refused."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CheckpointError(f"file is larger than {MAX_UPLOAD_BYTES // 2**20} MB; not a Digit Lab checkpoint")
    if data[:2] == b"PK" or data[:1] == b"\x80":
        raise CheckpointError("this is a PyTorch pickle (.pt/.pth) file; it was refused without being opened, "
                              "because unpickling can run code. Upload a Digit Lab .safetensors export instead.")
    try:
        header_len = int.from_bytes(data[:8], "little")
        if len(data) < 8 or header_len <= 0 or header_len > len(data) - 8:
            raise ValueError("truncated or not a safetensors file")
        header = json.loads(data[8:8 + header_len])
        meta = json.loads((header.get("__metadata__") or {})[_META_KEY])
        tensors = st_load(data)
    except KeyError:
        raise CheckpointError("this safetensors file has no Digit Lab metadata; only Digit Lab exports can be uploaded") from None
    except (ValueError, SafetensorError, UnicodeDecodeError, AttributeError, TypeError, RecursionError) as e:
        raise CheckpointError(f"not a valid Digit Lab checkpoint file ({str(e)[:120]})") from None
    meta = _check_meta(meta, "uploaded file")
    model = _model_from_tensors(tensors, meta, "uploaded file")
    keep = {k: v for k, v in meta.items() if k not in ("format", "run_id", "created")}
    keep["name"] = f"{meta.get('name') or meta.get('run_id') or meta['architecture']} (uploaded)"[:80]
    return save_checkpoint(model, keep, models_dir)
