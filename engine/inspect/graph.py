"""The autograd graph of a forward pass (torchviz): Graphviz source, rendered when `dot` exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.atomic import atomic_write, atomic_write_text
from engine.errors import BadInput, WorkFailed
from engine.outputs import check_output_file, writing

FORMATS = ("pdf", "svg", "png", "dot")
INSTALL_DOT = "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu) or " \
              "`brew install graphviz` (macOS)"


class GraphvizMissing(WorkFailed):
    """Graphviz's `dot` is not installed: the .dot source was written but not rendered."""

    def __init__(self, dot_path: Path, fmt: str, out: Path) -> None:
        self.dot_path = dot_path
        super().__init__(
            f"cannot render the graph as {fmt}: Graphviz's `dot` program is not installed",
            f"the graph source was written to {dot_path}",
            f"{INSTALL_DOT}, then run `dot -T{fmt} {dot_path} -o {out}`",
        )


@dataclass
class GraphFiles:
    """What export_graph wrote: the .dot source and the rendered file (None when only source)."""

    dot_path: Path
    rendered: Path | None
    nodes: int


def dot_available() -> str | None:
    """Return the path of Graphviz's `dot` program, or None when it is not installed."""
    return shutil.which("dot")


def format_for(out: str | os.PathLike[str], fmt: str | None) -> str:
    """Return the output format: `fmt` when given, else the --out suffix, else pdf."""
    if fmt is None:
        suffix = Path(out).suffix.lstrip(".").lower()
        if suffix and suffix not in FORMATS:
            raise BadInput(f"cannot tell the graph format of {Path(out).name!r}",
                           f"'.{suffix}' is none of {', '.join(FORMATS)}",
                           "end --out with .pdf, .svg, .png or .dot, or give --format")
        fmt = suffix or "pdf"
    if fmt not in FORMATS:
        raise BadInput(f"unknown graph format {fmt!r}", f"the formats are: {', '.join(FORMATS)}",
                       "use --format pdf, svg, png or dot")
    return fmt


def _tensors(output: Any) -> list[torch.Tensor]:
    """Return every floating tensor inside a forward's output (tensor, dict, list, tuple)."""
    if isinstance(output, torch.Tensor):
        return [output] if output.is_floating_point() else []
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item)]
    return []


def make_graph(model: nn.Module, input_size: tuple[int, ...] = (1, 3, 224, 224),
               show_attrs: bool = False) -> Any:
    """Return the torchviz Digraph of one forward of a random input of `input_size`."""
    from torchviz import make_dot

    from engine.inspect.detection import is_detection_model

    param = next(model.parameters(), None)
    device = param.device if param is not None and param.device.type != "meta" else "cpu"
    if param is not None and param.device.type == "meta":
        raise BadInput("the model has no weights in memory (it is on the meta device)",
                       "a graph needs a real forward pass", "open it on cpu or cuda")
    try:
        x = torch.rand(*input_size, device=device, requires_grad=True)
    except RuntimeError as error:  # e.g. not enough memory for the input
        raise WorkFailed(f"cannot make a {tuple(input_size)} input",
                         str(error).splitlines()[0], "give a smaller --input-size") from None
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            output = model(list(x)) if is_detection_model(model) else model(x)
    except RuntimeError as error:
        raise WorkFailed(f"the forward pass on a {tuple(input_size)} input failed",
                         str(error).splitlines()[0],
                         "give the model's input size with --input-size, e.g. 1,3,299,299",
                         ) from None
    finally:
        model.train(was_training)
    tensors = [t for t in _tensors(output) if t.grad_fn is not None] or _tensors(output)
    if not tensors:
        raise WorkFailed("the model's forward returned no tensors",
                         f"it returned {type(output).__name__}", "graph needs tensor outputs")
    params = {name: p for name, p in model.named_parameters()}
    params["input"] = x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torchviz uses distutils' Version
        return make_dot(tuple(tensors) if len(tensors) > 1 else tensors[0], params=params,
                        show_attrs=show_attrs)


def _render(dot_path: Path, fmt: str, out: Path, dot: str) -> None:
    """Render `dot_path` into `out` with Graphviz, atomically."""
    try:
        with atomic_write(out, "wb") as handle:
            done = subprocess.run([dot, f"-T{fmt}", str(dot_path)], stdout=handle,
                                  stderr=subprocess.PIPE, text=False, timeout=300, check=False)
            if done.returncode != 0:
                stderr = done.stderr.decode(errors="replace").strip()
                raise WorkFailed(f"Graphviz could not render {dot_path} as {fmt}",
                                 stderr.splitlines()[-1] if stderr else
                                 f"dot exited with {done.returncode}",
                                 "try --format svg, or render the .dot file yourself")
    except subprocess.TimeoutExpired:
        raise WorkFailed(f"Graphviz took too long to render {dot_path}", "it ran over 300 s",
                         "try --format svg, or a smaller model") from None


def export_graph(model: nn.Module, out: str | os.PathLike[str], fmt: str | None = None,
                 input_size: tuple[int, ...] = (1, 3, 224, 224)) -> GraphFiles:
    """Write the autograd graph's .dot source beside `out` and render `out` with Graphviz.

    Raises GraphvizMissing (exit 1) after writing the .dot file when `dot` is not installed.
    """
    fmt = format_for(out, fmt)
    target = check_output_file(out)  # a folder or an unwritable place is refused before the work
    if fmt != "dot" and target.suffix.lower() != f".{fmt}":
        target = target.with_name(target.name + f".{fmt}")
    dot_path = target if fmt == "dot" else target.with_suffix(".dot")
    check_output_file(target)
    check_output_file(dot_path)
    graph = make_graph(model, input_size)
    with writing(dot_path):
        atomic_write_text(dot_path, graph.source)
    nodes = graph.source.count("[label=")
    if fmt == "dot":
        return GraphFiles(dot_path, None, nodes)
    dot = dot_available()
    if dot is None:
        raise GraphvizMissing(dot_path, fmt, target)
    with writing(target):
        _render(dot_path, fmt, target, dot)
    return GraphFiles(dot_path, target, nodes)
