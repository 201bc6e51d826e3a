"""`ptm-tui init-lab`: the depth/std experiment — how each layer's output std evolves with depth."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from typing import Any

ACTIVATION_NAMES = ("none", "tanh", "relu", "leaky_relu", "sigmoid", "gelu")
FLOOR = 1e-38
"""Smallest std drawn on the log axis (a std of exactly 0 cannot be shown)."""


def register(subparsers: Any) -> None:
    """Add the `init-lab` subcommand."""
    parser = subparsers.add_parser(
        "init-lab", help="watch activations explode or vanish through a deep MLP",
        description="Feed a random batch through DEPTH linear layers of WIDTH units, each "
        "initialised with --init and followed by --activation, and print each layer's output "
        "std (layers counted from 0) and the first layer whose output is not finite.")
    parser.add_argument("--depth", type=int, default=100, help="number of layers (default 100)")
    parser.add_argument("--width", type=int, default=256, help="units per layer (default 256)")
    parser.add_argument("--batch", type=int, default=256, help="samples in the batch (default 256)")
    parser.add_argument("--activation", default="tanh", choices=ACTIVATION_NAMES,
                        help="activation after each layer (default tanh)")
    parser.add_argument("--init", default="xavier_uniform",
                        help="init method: uniform, normal, constant, ones, zeros, eye, dirac, "
                        "xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal, "
                        "trunc_normal, orthogonal, sparse (default xavier_uniform)")
    parser.add_argument("--gain", default="auto",
                        help="auto (calculate_gain of the activation; for kaiming it sets "
                        "nonlinearity), or a number for xavier/orthogonal (default auto)")
    parser.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="an init parameter, e.g. --param std=0.02 --param mode=fan_out")
    parser.add_argument("--bias", action="store_true", help="add a bias to each layer")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--table", action="store_true",
                        help="print every layer's std as a table instead of a plot")
    parser.add_argument("--json", action="store_true",
                        help='print {"stds": [...], "first_nonfinite_layer": int|null}')
    parser.set_defaults(func=run)


def draw_std_plot(plt: Any, runs: list[tuple[str, list[float], int | None]],
                  title: str = "output std per layer (log scale)", marker: str = "braille") -> None:
    """Draw runs of (label, stds, first_nonfinite_layer) on a plotext figure `plt`."""
    plt.clear_data()
    plt.clear_figure() if hasattr(plt, "clear_figure") else None
    plt.title(title)
    plt.xlabel("layer")
    plt.ylabel("std")
    plotted = False
    colors = ("cyan", "orange", "green", "magenta", "red", "blue", "yellow")
    longest = max([len(stds) + 1 for _, stds, _ in runs] or [1])
    top = max([max(stds) for _, stds, _ in runs if stds] or [1.0])
    for number, (label, stds, nonfinite) in enumerate(runs):
        color = colors[number % len(colors)]
        if stds:
            ys = [max(s, FLOOR) for s in stds]
            plt.plot(list(range(len(ys))), ys, label=label, color=color, marker=marker)
            plotted = True
        if nonfinite is not None:  # a line at the layer that turned inf/nan, labelled beside it
            plt.vline(nonfinite, color)
            right = nonfinite > longest / 2
            plt.text(f"inf @{nonfinite} " if right else f" inf @{nonfinite}", nonfinite, top,
                     color=color, alignment="right" if right else "left")
    if plotted:
        plt.yscale("log")
        values = [max(s, FLOOR) for _, stds, _ in runs for s in stds]
        low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
        step = max(1, math.ceil((high - low) / 6))
        decades = list(range(low, high + 1, step))
        plt.yticks([10.0**d for d in decades], [f"1e{d}" if d else "1" for d in decades])
        longest = max(len(stds) for _, stds, _ in runs)
        xstep = max(1, math.ceil(longest / 10))
        plt.xticks(list(range(0, longest, xstep)))


def render_plot(runs: list[tuple[str, list[float], int | None]], width: int, height: int,
                color: bool) -> str:
    """Return the std plot of `runs` as text (ANSI colours when `color`)."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(width, height)
    draw_std_plot(plt, runs)
    text = plt.build()
    if not color:
        text = plt.uncolorize(text)
    plt.clear_figure()
    return text


def _table(stds: list[float], every: int) -> str:
    rows = [f"{'layer':>6}  {'std':>12}"]
    for layer, std in enumerate(stds):
        if layer % every == 0 or layer == len(stds) - 1:
            rows.append(f"{layer:>6}  {std:>12.4g}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    """Run the experiment and print the stds (plot or table, or JSON) and the verdict."""
    from engine.inference import resolve_device
    from engine.init import parse_params
    from engine.init_lab import LabConfig, run_lab
    from tui.cli.output import print_json, stderr

    gain: float | str | None = args.gain
    if gain != "auto":
        from engine.init import parse_value

        gain = parse_value(str(gain))
    config = LabConfig(depth=args.depth, width=args.width, batch=args.batch,
                       activation=args.activation, init=args.init,
                       params=parse_params(args.param), gain=gain, bias=args.bias,
                       seed=args.seed, device=resolve_device(args.device))
    if args.json:
        result = run_lab(config)
        print_json({"stds": result.stds, "first_nonfinite_layer": result.first_nonfinite_layer})
        return 0
    with stderr.status(f"running {config.label()} through {config.depth} layers..."):
        result = run_lab(config)
    out = sys.stdout
    print(f"{result.label}  depth {config.depth}, width {config.width}, batch {config.batch}, "
          f"seed {config.seed}", file=out)
    if args.table or not result.stds:
        print(_table(result.stds, 1), file=out)
    else:
        columns, lines = shutil.get_terminal_size((100, 30))
        height = max(12, min(25, lines - 6))
        print(render_plot([(result.label, result.stds, result.first_nonfinite_layer)],
                          min(columns, 120), height, out.isatty()), file=out)
        print(_table(result.stds, max(1, math.ceil(len(result.stds) / 10))), file=out)
    print(f"verdict: {result.verdict()}", file=out)
    return 0
