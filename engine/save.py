"""Save a model's weights as .pth (weights_only-loadable) or .safetensors, atomically."""

from __future__ import annotations

import contextlib
import errno
import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from engine.atomic import atomic_save, atomic_write
from engine.errors import BadInput, PtmError, WorkFailed

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
WEIGHTS_SUFFIXES = (*TORCH_SUFFIXES, ".safetensors")
_USER_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.EEXIST,
                errno.ENOENT, errno.ENAMETOOLONG)


def _existing_parent(path: Path) -> Path:
    """Return the nearest folder above `path` that exists (or raise BadInput when a file is in the way)."""
    for parent in path.absolute().parents:
        if parent.is_dir():
            return parent
        if parent.exists():
            raise BadInput(f"cannot write {path}", f"{parent} is a file, not a folder",
                           "choose an output path whose folders are folders")
    return Path("/")


def check_output_file(path: str | os.PathLike[str], option: str = "--out",
                      suffixes: tuple[str, ...] | None = None) -> Path:
    """Return `path` as a Path after checking a file can be written there; raise BadInput if not."""
    target = Path(path).expanduser()
    if suffixes is not None and target.suffix.lower() not in suffixes:
        raise BadInput(f"cannot write {option} {target.name!r}",
                       f"unknown file type {target.suffix.lower() or '(none)'!r}",
                       f"end {option} with {', '.join(suffixes[:-1])} or {suffixes[-1]}"
                       if len(suffixes) > 1 else f"end {option} with {suffixes[0]}")
    if target.is_dir():
        raise BadInput(f"cannot write {option} {target}", "it is a folder, not a file",
                       f"give a file name inside it, e.g. {target / 'out'}{(suffixes or ('',))[0]}")
    folder = _existing_parent(target)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write {option} {target}", f"the folder {folder} is not writable",
                       "choose a folder you can write to")
    return target


def check_output_dir(path: str | os.PathLike[str], option: str = "--out") -> Path:
    """Return `path` as a Path after checking files can be written into it; raise BadInput if not."""
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"cannot write into {option} {folder}", "it is a file, not a folder",
                       "pass a folder path (it is created when missing)")
    existing = folder if folder.is_dir() else _existing_parent(folder)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write into {option} {folder}", f"the folder {existing} is not writable",
                       "choose a folder you can write to")
    return folder


@contextlib.contextmanager
def writing(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn an OSError while writing `path` into a PtmError saying what, why and how to fix it."""
    try:
        yield
    except PtmError:
        raise
    except OSError as error:
        why = error.strerror or str(error)
        if error.errno in _USER_ERRNOS:
            raise BadInput(f"cannot write {path}", why,
                           "choose an output path in a folder you can write to") from None
        raise WorkFailed(f"could not write {path}", why,
                         "free some disk space or choose another folder, then run it again") from None


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    meta = [key for key, tensor in state.items() if tensor.is_meta]
    if meta:
        raise BadInput(
            "cannot save weights that do not exist yet",
            f"{len(meta)} tensors are on the meta device (structure only), e.g. {meta[0]!r}",
            "open the model with weights (or on cpu) before saving",
        )
    return state


def _dedupe(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Return (tensors with shared copies removed and made contiguous, alias -> kept name)."""
    kept: dict[tuple, str] = {}
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    for name, tensor in state.items():
        key = (
            (
                tensor.untyped_storage().data_ptr(),
                tensor.storage_offset(),
                tuple(tensor.shape),
                tensor.stride(),
                tensor.dtype,
            )
            if tensor.numel()
            else None
        )
        if key is not None and key in kept:
            aliases[name] = kept[key]
            continue
        if key is not None:
            kept[key] = name
        tensors[name] = (
            tensor.detach().to("cpu").contiguous().clone()
            if tensor.numel() and _shares_storage(tensor)
            else tensor.detach().to("cpu").contiguous()
        )
    return tensors, aliases


def _shares_storage(tensor: torch.Tensor) -> bool:
    """Tell whether a tensor is a view into a larger storage (safetensors refuses those)."""
    return tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size()


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write the model's state dict to `path` (.pth/.pt/.bin/.safetensors) atomically; return it."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in WEIGHTS_SUFFIXES:
        raise BadInput(
            f"cannot save weights as {target.name!r}",
            f"unknown file type {suffix or '(none)'!r}",
            "end the name with .pth or .safetensors",
        )
    check_output_file(target, "the weights file")
    state = _state(model)
    with writing(target):
        _write(state, target, suffix)
    return target


def _write(state: dict[str, torch.Tensor], target: Path, suffix: str) -> None:
    """Write the state dict to `target` in the format of `suffix`, atomically."""
    if suffix == ".safetensors":
        from safetensors.torch import save

        tensors, aliases = _dedupe(state)
        metadata = {"format": "pt"}
        if aliases:
            metadata["ptm_tui_aliases"] = json.dumps(aliases)
        data = save(tensors, metadata=metadata)
        with atomic_write(target, "wb") as handle:
            handle.write(data)
    else:
        atomic_save({k: v.detach().to("cpu") for k, v in state.items()}, target)
