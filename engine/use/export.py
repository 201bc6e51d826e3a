"""Hand a model on: write it as a torch.export archive, ONNX, TorchScript or safetensors with its
metadata, then run the written file against torch on the same input and refuse it past a
tolerance."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.errors import BadInput, WorkFailed
from engine.use.export_detection import detector_writer
from engine.use.export_outputs import METADATA_FILE, flat_outputs, output_names

FORMATS: dict[str, tuple[str, ...]] = {
    "exported": (".pt2",),
    "onnx": (".onnx",),
    "torchscript": (".pt", ".ts", ".torchscript"),
    "safetensors": (".safetensors",),
}
"""Each export format and the file suffixes it writes."""

TOLERANCE = 1e-4
"""The largest absolute difference between the exported model's outputs and torch's that passes."""

ONNX_NEEDS = ("onnx", "onnxscript", "onnxruntime")
"""What ONNX export needs: onnx and onnxscript to write the file, onnxruntime to check it."""


def export_format(out: str | os.PathLike[str], fmt: str | None) -> str:
    """Return the format to write: `fmt` checked, or the one `out`'s suffix names."""
    suffix = Path(out).suffix.lower()
    if fmt is None:
        found = [name for name, suffixes in FORMATS.items() if suffix in suffixes]
        if not found:
            raise BadInput(f"cannot tell the export format of {Path(out).name!r}",
                           f"unknown suffix {suffix or '(none)'!r}",
                           "give --format exported, onnx, torchscript or safetensors, or end --out "
                           "with .pt2, .onnx, .pt or .safetensors")
        return found[0]
    if fmt not in FORMATS:
        raise BadInput(f"unknown export format {fmt!r}", f"the formats are {', '.join(FORMATS)}",
                       "pick one of those")
    if suffix not in FORMATS[fmt]:
        raise BadInput(f"--out {Path(out).name!r} does not fit --format {fmt}",
                       f"{fmt} files end with {' or '.join(FORMATS[fmt])}",
                       f"name the file e.g. model{FORMATS[fmt][0]}")
    return fmt


def check_tools(fmt: str) -> None:
    """Raise BadInput naming what to install when the format's optional packages are missing."""
    if fmt != "onnx":
        return
    missing = [name for name in ONNX_NEEDS if find_spec(name) is None]
    if missing:
        raise BadInput("ONNX export needs " + ", ".join(missing),
                       "they are optional: onnx and onnxscript write the file, onnxruntime checks it",
                       f"pip install 'ptm-tui[export]'  (or pip install {' '.join(missing)})")


@dataclass
class ExportReport:
    """What was written and how closely the written model matched torch."""

    path: Path
    format: str
    bytes: int
    max_abs_diff: float
    tolerance: float
    batch: int
    input_shape: list[int]
    metadata: dict[str, str] = field(default_factory=dict)
    """The metadata as read back from the written file."""

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (the CLI's --json)."""
        return {"out": str(self.path), "format": self.format, "bytes": self.bytes,
                "max_abs_diff": self.max_abs_diff, "tolerance": self.tolerance,
                "batch": self.batch, "input_shape": self.input_shape, "metadata": self.metadata}


class _Flat(nn.Module):
    """The model with its outputs flattened to a tuple of tensors (ONNX wants tensors; the names
    of its outputs say where each came from)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(flat_outputs(self.model(x)))


def _write_onnx(model: nn.Module, sample: torch.Tensor, path: Path, metadata: dict[str, str]) -> None:
    """Write `model` as ONNX with a dynamic batch dimension, its outputs named after the model's
    output (engine.use.export_outputs.output_names) and `metadata` in metadata_props."""
    names = output_names(model(sample))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(_Flat(model), (sample,), dynamo=True, verbose=False,
                                    input_names=["input"], output_names=names,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
    program.model.metadata_props.update(metadata)
    program.save(str(path))


def _run_onnx(path: Path, batch: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Return the outputs onnxruntime computes from the file at `path`, and its metadata."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    outputs = session.run(None, {name: batch.numpy()})
    return [torch.from_numpy(o) for o in outputs], dict(session.get_modelmeta().custom_metadata_map)


def _write_torchscript(model: nn.Module, sample: torch.Tensor, path: Path,
                       metadata: dict[str, str]) -> None:
    """Write `model` traced on `sample` as a TorchScript archive with the metadata inside; it
    returns what the model returns (a classifier's tensor stays a tensor)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # torch.jit is deprecated but still what C++/mobile load
        traced = torch.jit.trace(model, sample, strict=False)
        torch.jit.save(traced, str(path), _extra_files={METADATA_FILE: json.dumps(metadata)})


def _run_torchscript(path: Path, batch: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Return the outputs of the TorchScript archive at `path`, and its metadata."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    with torch.no_grad():
        outputs = flat_outputs(loaded(batch))
    return outputs, json.loads(extra[METADATA_FILE] or "{}")


def _write_exported(model: nn.Module, sample: torch.Tensor, path: Path,
                    metadata: dict[str, str]) -> None:
    """Write `model` as a torch.export archive (.pt2) with a dynamic batch dimension and the
    metadata inside; torch.export.load gives it back, returning what the model returns."""
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        program = torch.export.export(model, (sample,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path), extra_files={METADATA_FILE: json.dumps(metadata)})


def _run_exported(path: Path, batch: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, str]]:
    """Return the outputs of the torch.export archive at `path` (this run's own file), and its
    metadata."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.export.load(str(path), extra_files=extra)
    with torch.no_grad():
        outputs = flat_outputs(program.module()(batch))
    return outputs, json.loads(extra[METADATA_FILE] or "{}")


def _write_safetensors(model: nn.Module, sample: torch.Tensor, path: Path,
                       metadata: dict[str, str]) -> None:
    """Write the model's tensors (shared ones once) as safetensors with the metadata."""
    from safetensors.torch import save_model

    save_model(model, str(path), metadata=metadata)


def _runner_safetensors(model: nn.Module) -> Callable[[Path, torch.Tensor], Any]:
    """Return a runner that loads the file into a copy of `model` and runs it."""

    def run(path: Path, batch: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, str]]:
        from safetensors import safe_open
        from safetensors.torch import load_model

        twin = copy.deepcopy(model)
        with torch.no_grad():
            for tensor in (*twin.parameters(), *twin.buffers()):
                tensor.zero_()  # every value the twin uses must come from the file
        load_model(twin, str(path))
        with safe_open(str(path), framework="pt") as opened:
            metadata = dict(opened.metadata() or {})
        with torch.no_grad():
            return flat_outputs(twin(batch)), metadata

    return run


def _max_diff(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    """Return the largest absolute difference between two lists of outputs (inf when they differ)."""
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want)):
        return float("inf")
    if not want:
        return 0.0
    return max(float((g.double() - w.double()).abs().max()) if w.numel() else 0.0
               for g, w in zip(got, want))


def export_model(model: nn.Module, fmt: str, out: str | os.PathLike[str], input_shape: list[int],
                 metadata: dict[str, str] | None = None, tolerance: float = TOLERANCE,
                 seed: int = 0) -> ExportReport:
    """Write `model` to `out` in `fmt` and return the report of its check against torch.

    The file is written under a temporary name, run on a random batch of another size than
    the one it was traced with (the batch is dynamic), and moved into place only when every
    output is within `tolerance` of torch's; otherwise nothing is left and WorkFailed says by
    how much it differed.
    """
    check_tools(fmt)
    target = Path(out).expanduser()
    model = model.eval()
    detector_writer(model, fmt)  # a format that cannot hold a detector is refused first
    device = next((t.device for t in (*model.parameters(), *model.buffers())), torch.device("cpu"))
    if device.type != "cpu":
        model = copy.deepcopy(model).to("cpu")  # exporters and onnxruntime run on the CPU here
    generator = torch.Generator().manual_seed(seed)
    shape = [int(n) for n in input_shape[1:]]
    sample = torch.randn((2, *shape), generator=generator)
    batch = torch.randn((3, *shape), generator=generator)
    try:
        with torch.no_grad():
            model(sample)
            expected = [t.detach() for t in flat_outputs(model(batch))]
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        lines = str(error).strip().splitlines()
        raise BadInput(f"cannot export: the model does not run in torch on random batches of "
                       f"{[2, *shape]} and {[3, *shape]}",
                       lines[-1][:300] if lines else type(error).__name__,
                       "the file is checked on a batch size other than the traced one: export a "
                       "model that takes any batch size and this input size") from None
    writers = {"exported": (_write_exported, _run_exported), "onnx": (_write_onnx, _run_onnx),
               "torchscript": (_write_torchscript, _run_torchscript),
               "safetensors": (_write_safetensors, _runner_safetensors(model))}
    write, run = detector_writer(model, fmt) or writers[fmt]
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp{target.suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            write(model, sample, temp, dict(metadata or {}))
        except (BadInput, OSError):
            raise
        except Exception as error:
            raise WorkFailed(f"{fmt} export failed", f"{type(error).__name__}: "
                             f"{str(error).strip().splitlines()[0][:300] if str(error).strip() else ''}",
                             "try another --format (safetensors always works for the weights)") from None
        try:
            got, written = run(temp, batch)
        except Exception as error:  # e.g. a traced detection model fails on another batch size
            lines = str(error).strip().splitlines()  # TorchScript puts the reason last
            raise WorkFailed(f"the written {fmt} file does not run on a batch of {batch.shape[0]}",
                             f"{lines[-1][:300] if lines else type(error).__name__}; "
                             "nothing was written",
                             "try another --format (safetensors always works for the weights)") from None
        diff = _max_diff([t.detach() for t in got], expected)
        if not diff <= tolerance:  # nan fails too
            raise WorkFailed(f"the {fmt} file does not match torch: max abs difference {diff:.3g}",
                             f"more than the tolerance {tolerance:g}; nothing was written",
                             "try another --format, or pass a larger --tolerance if this is expected")
        size = temp.stat().st_size
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)  # some writers make 0600 files; give it the usual mode
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return ExportReport(target, fmt, size, diff, tolerance, int(batch.shape[0]),
                        [-1, *shape], written)
