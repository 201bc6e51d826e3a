"""Reading weights files safely: weights_only torch.load (mmap when possible) or safetensors."""

from __future__ import annotations

import os
import pickle
import pickletools
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import BadInput
from engine.models.weights.cache import cached_file, is_url
from engine.models.weights.checks import check_tensors, is_weights_file, what_it_is
from engine.models.weights.errors import CorruptCheckpoint, UnsafeCheckpoint
from engine.models.weights.meaning import meaning_in, safetensors_meaning
from engine.models.weights.meaning_check import BadMeaning

if TYPE_CHECKING:
    import torch

# Keys under which training scripts commonly store the model's state dict, best first.
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "network",
                   "weights", "params", "model_ema", "state_dict_ema", "ema")
PREFIXES = ("module.", "_orig_mod.")
_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")
_WO_REASON = re.compile(r"WeightsUnpickler error:\s*(.+)")
_OS_ALIASES = {"posix": "os", "nt": "os"}
_MAX_DEPTH = 4
_MODEL_MODULES = ("torch.nn.modules.", "torchvision.models.", "timm.models.")


def read_state_dict(path_or_url: str | os.PathLike[str], map_location: Any = "cpu",
                    mmap: bool = True) -> dict[str, torch.Tensor]:
    """Return the state dict in a weights file or URL (common layouts, prefixes stripped)."""
    return read_weights(path_or_url, map_location, mmap)[0]


def read_weights(path_or_url: str | os.PathLike[str], map_location: Any = "cpu",
                 mmap: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any] | None]:
    """Return (state dict, meaning or None) of a weights file or URL: the tensors and what the
    file says they are (engine.models.weights.meaning), from one read."""
    text = os.fspath(path_or_url)
    fresh = is_url(text) and cached_file(text) is None
    path = local_weights_path(text)
    try:
        checkpoint = read_checkpoint(path, map_location=map_location, mmap=mmap)
    except (UnsafeCheckpoint, CorruptCheckpoint):
        if fresh:  # just downloaded and refused: the cache must not keep it
            path.unlink(missing_ok=True)
        raise
    state_dict = strip_prefixes(find_state_dict(checkpoint, source=path.name))
    check_tensors(state_dict, _shown(path.name))
    meaning = safetensors_meaning(path) if file_format(path) == "safetensors" else \
        meaning_in(checkpoint, _shown(path.name))
    return state_dict, meaning


def read_meaning(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return what a local weights file says it is, or None (also when it cannot be read);
    BadMeaning when what it says cannot be used."""
    from engine.errors import PtmError

    try:
        if file_format(path) == "safetensors":
            return safetensors_meaning(path)
        return meaning_in(read_checkpoint(path), _shown(Path(path).name))
    except BadMeaning:
        raise
    except (PtmError, OSError):
        return None


def local_weights_path(path_or_url: str | os.PathLike[str]) -> Path:
    """Return a local file for a path or URL, downloading the URL into the cache when needed."""
    text = os.fspath(path_or_url)
    if is_url(text):
        from engine.models.weights.download import download

        return cached_file(text) or download(text)
    path = Path(text).expanduser()
    if not is_weights_file(path):
        raise BadInput(f"cannot read weights from {_shown(text)}", what_it_is(path),
                       "give the path of a .pth, .pt, .bin, .ckpt or .safetensors file, or a URL")
    return path


def file_format(path: str | os.PathLike[str]) -> str:
    """Return "zip", "safetensors" or "pickle": how a weights file is stored, from its bytes."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(9)
    except OSError as error:
        raise BadInput(f"cannot read weights from {path}", error.strerror or str(error),
                       "give the path of a readable weights file") from None
    if not head:
        raise CorruptCheckpoint(f"cannot read weights from {path}", "the file is empty",
                                "download or save it again")
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if path.suffix == ".safetensors" or (
        len(head) == 9 and head[8:9] == b"{"
        and int.from_bytes(head[:8], "little") < path.stat().st_size
    ):
        return "safetensors"
    if head[:1] != b"\x80":  # torch.save pickles with protocol 2+, which starts with 0x80
        raise CorruptCheckpoint(f"cannot read weights from {path}",
                                f"it is not a weights file: it starts like {_looks_like(head)}",
                                "give a .pth/.pt/.bin file saved by torch.save, or a .safetensors file")
    return "pickle"


def _looks_like(head: bytes) -> str:
    """Return what a file's first bytes suggest it is, in words."""
    known = {b"\x89PNG": "a PNG image", b"\xff\xd8": "a JPEG image", b"GIF8": "a GIF image",
             b"\x1f\x8b": "a gzip archive", b"%PDF": "a PDF", b"\x7fELF": "a program"}
    for magic, what in known.items():
        if head.startswith(magic):
            return what
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype", b"<html", b"<?xml", b"<")):
        return "an HTML/XML page (a login or error page saved instead of the file?)"
    if all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return f"text ({head.decode('ascii', 'replace')!r}...)"
    return "some other kind of file"


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu",
                    mmap: bool = True) -> Any:
    """Return the object stored in a weights file, refusing anything that asks to run code."""
    path = Path(path)
    kind = file_format(path)
    if kind == "safetensors":
        return _read_safetensors(path, map_location)
    import torch

    try:
        if not _utf8(path):  # torch's file reader takes UTF-8 names only: hand it an open file
            with open(path, "rb") as handle:
                return torch.load(handle, map_location=map_location, weights_only=True)
        return torch.load(path, map_location=map_location, weights_only=True,
                          mmap=mmap and kind == "zip")
    except pickle.UnpicklingError as error:
        if kind == "pickle" and _pickles_truncated(path):
            raise _corrupt(path, "the pickled data ends early") from None
        raise _refusal(path, str(error)) from None
    except RuntimeError as error:
        if "legacy .tar format" in str(error):
            raise UnsafeCheckpoint(
                f"refused to load {path.name}",
                "it is in the pre-1.0 .tar format, which cannot be read without running its code",
                "only if you trust its source: load it in a separate, trusted environment "
                "and torch.save its state_dict() with a recent torch, then open that file",
            ) from None
        raise _corrupt(path, error) from None
    except Exception as error:  # torch raises many types for damaged files
        raise _corrupt(path, error) from None


def _read_safetensors(path: Path, map_location: Any) -> dict[str, Any]:
    """Return the tensors of a .safetensors file (memory-mapped by safetensors)."""
    from safetensors.torch import load_file

    device = map_location if isinstance(map_location, str) else str(map_location or "cpu")
    try:
        if not _utf8(path):  # safetensors takes UTF-8 names only: read the bytes ourselves
            from safetensors.torch import load

            tensors = load(path.read_bytes())
            return {k: v.to(device) for k, v in tensors.items()}
        return load_file(path, device=device)
    except Exception as error:
        raise _corrupt(path, error) from None


def _utf8(path: Path) -> bool:
    """Return whether the path can be encoded as UTF-8 (a Linux name can hold any bytes)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _shown(name: str) -> str:
    """Return a file name fit to print: bytes that are not UTF-8 shown as \\xNN."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _pickles_truncated(path: Path, count: int = 4) -> bool:
    """Return whether the first `count` pickles of a legacy file fail to parse (no code runs)."""
    with open(path, "rb") as handle:
        for _ in range(count):  # magic number, protocol, sys info, the object
            try:
                for _ in pickletools.genops(handle):
                    pass
            except Exception:
                return True
    return False


def _refusal(path: Path, message: str) -> BadInput:
    """Return the error for an UnpicklingError raised by torch's weights_only loader."""
    if "Weights only load failed" not in message:
        return _corrupt(path, message)
    found = _GLOBAL.search(message)
    fix = ("load weights only from sources you trust; if the file is yours, re-save "
           "model.state_dict() with torch.save, or convert it to .safetensors")
    if found and found.group(1).endswith("."):  # GLOBAL cut short: the file ends early
        return _corrupt(path, "the pickled data ends inside a name")
    if found:
        name = found.group(1)
        module, _, attr = name.rpartition(".")
        alias = _OS_ALIASES.get(module)
        shown = f"{name} (that is, {alias}.{attr})" if alias else name
        if module.startswith(_MODEL_MODULES):
            fix = ("the file is a whole pickled model (torch.save(model)); where you trust it, "
                   "re-save its weights with torch.save(model.state_dict(), path)")
        return UnsafeCheckpoint(
            f"refused to load {path.name}",
            f"it asks to call {shown}, which is not on torch's allowlist of safe globals; "
            "nothing in the file was run",
            fix,
            global_name=name,
        )
    reason = _WO_REASON.search(message)
    detail = reason.group(1).strip() if reason else message.strip().splitlines()[-1]
    return UnsafeCheckpoint(
        f"refused to load {path.name}",
        f"the safe loader rejected its contents ({detail}); the file is corrupt or holds "
        "something other than tensors; nothing in it was run",
        fix,
    )


def _corrupt(path: Path, error: BaseException | str) -> CorruptCheckpoint:
    """Return the error for a truncated or damaged weights file."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = text.split(". ")[0].rstrip(".")
    if isinstance(error, EOFError):
        text = "the data ends early"
    elif isinstance(error, BaseException):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    size = path.stat().st_size if path.exists() else 0
    return CorruptCheckpoint(
        f"cannot read weights from {path}",
        f"the file ({size} bytes) is truncated or corrupt ({text[:200]})",
        "download or save it again; a file from the cache can be deleted and fetched anew",
    )


def find_state_dict(checkpoint: Any, source: str = "the file") -> dict[str, torch.Tensor]:
    """Return the mapping of names to tensors inside a checkpoint of a common layout.

    Quantized modules' entries (packed-parameter tuples, dtypes) are kept beside the tensors.
    """
    found = _search(checkpoint, 0)
    if found is None:
        keys = list(checkpoint)[:8] if isinstance(checkpoint, Mapping) else []
        holds = f"a mapping with keys {keys}" if keys else f"a {type(checkpoint).__name__}"
        raise BadInput(
            f"no weights found in {source}",
            f"it holds {holds}, not a mapping of parameter names to tensors",
            "give a file saved with torch.save(model.state_dict(), path) or a training "
            "checkpoint with a 'state_dict' or 'model' entry",
        )
    return found


def _search(node: Any, depth: int) -> dict[str, Any] | None:
    """Return the best mapping of str -> Tensor at or below `node`, or None."""
    import torch

    if not isinstance(node, Mapping) or depth > _MAX_DEPTH or not node:
        return None
    state = {k: v for k, v in node.items() if isinstance(k, str) and _is_state_value(v)}
    if not any(isinstance(v, torch.Tensor) for v in state.values()):
        state = {}
    if state and len(state) == len(node):
        return _with_metadata(node, state)
    for key in STATE_DICT_KEYS:
        if key in node:
            found = _search(node[key], depth + 1)
            if found is not None:
                return found
    for value in node.values():
        found = _search(value, depth + 1)
        if found is not None:
            return found
    return _with_metadata(node, state) if state else None


def _is_state_value(value: Any) -> bool:
    """Return whether `value` can sit in a state dict: a tensor, a dtype, or a tuple of tensors."""
    import torch

    if isinstance(value, (torch.Tensor, torch.dtype)):
        return True  # dtypes and tuples: quantized modules' packed parameters
    return isinstance(value, (tuple, list)) and bool(value) and all(
        isinstance(item, torch.Tensor) or item is None for item in value)


def _with_metadata(source: Mapping[str, Any], tensors: dict[str, Any]) -> dict[str, Any]:
    """Return `tensors` as an OrderedDict carrying the source's `_metadata` (module versions)."""
    result: OrderedDict[str, Any] = OrderedDict(tensors)
    metadata = getattr(source, "_metadata", None)
    if metadata is not None:
        result._metadata = metadata  # type: ignore[attr-defined]
    return result


def strip_prefixes(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Return the state dict with `module.` / `_orig_mod.` removed when every key carries one."""
    result = state_dict
    changed = True
    while changed and result:
        changed = False
        for prefix in PREFIXES:
            if all(key.startswith(prefix) for key in result):
                result = _strip(result, prefix)
                changed = True
    return result


def _strip(state_dict: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Return a copy of `state_dict` with `prefix` removed from every key (and its metadata)."""
    result: OrderedDict[str, Any] = OrderedDict(
        (key[len(prefix):], value) for key, value in state_dict.items()
    )
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None and not isinstance(metadata, Mapping):
        result._metadata = metadata  # type: ignore[attr-defined]  # refused by check_tensors, by name
    elif metadata is not None:
        head = prefix.rstrip(".")
        result._metadata = OrderedDict(  # type: ignore[attr-defined]
            (key[len(prefix):] if key.startswith(prefix) else ("" if key == head else key), value)
            for key, value in metadata.items()
        )
    return result
