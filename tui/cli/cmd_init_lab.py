"""`ptm-tui init-lab`: the depth/std experiment — how each layer's output std evolves with depth."""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from typing import Any

from tui.std_plot import ACTIVATION_NAMES, render_plot


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


def _table(stds: list[float], every: int) -> str:
    rows = [f"{'layer':>6}  {'std':>12}"]
    for layer, std in enumerate(stds):
        if layer % every == 0 or layer == len(stds) - 1:
            rows.append(f"{layer:>6}  {std:>12.4g}")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    """Run the experiment and print the stds (plot or table, or JSON) and the verdict."""
    from engine.edit.init_methods import parse_params
    from engine.use.devices import resolve_device
    from engine.use.init_lab import LabConfig, run_lab
    from tui.cli.output import print_json, stderr

    gain: float | str | None = args.gain
    if gain != "auto":
        from engine.edit.init_methods import parse_value

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
