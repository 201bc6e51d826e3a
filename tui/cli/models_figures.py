"""`ptm-tui models --plot` and `ptm-tui models --compare A B...`: the catalog's plot as text and
models side by side, for scripts (nothing is downloaded)."""

from __future__ import annotations

import argparse
import shutil
from typing import Any

from engine.models.figures import COSTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --plot, --x and --compare to the `models` command."""
    parser.add_argument(
        "--plot",
        action="store_true",
        help="draw the listed models of one task: its metric against GFLOPs (log "
        "axis), the Pareto frontier marked and listed; --task picks the task "
        "(default: the one most listed models have)",
    )
    parser.add_argument(
        "--x",
        choices=tuple(COSTS),
        default="gflops",
        dest="x_axis",
        help="with --plot, the x axis: gflops (default), params or size (MB)",
    )
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="NAME",
        default=None,
        help="2 to 4 models side by side: params, GFLOPs, file size, input, "
        "acc@1/acc@5 or the task's metric, categories, cached, input layer and "
        "head (a meta build each; nothing is downloaded)",
    )


def run_compare(args: argparse.Namespace) -> int:
    """Print the compared models as a table (or one JSON line each); return the exit code."""
    from engine.inspect.model_compare import compare_models
    from tui.cli.output import print_json, stdout
    from tui.model_compare_table import compare_table

    models = compare_models(args.compare)
    if args.json:
        for figures in models:
            print_json(figures.to_dict())
        return 0
    table = compare_table(models)
    if stdout.is_terminal:
        stdout.print(table)
    else:  # a pipe gets every cell on one line: stdout would wrap at $COLUMNS or 80
        from rich.console import Console
        from rich.measure import Measurement

        wide = Console(width=10_000, color_system=None)
        Console(width=Measurement.get(wide, wide.options, table).maximum, color_system=None).print(table)
    return 0


def run_plot(args: argparse.Namespace, infos: list[Any]) -> int:
    """Print the plot of `infos` (or its points as one JSON object); return the exit code."""
    from rich.console import Console

    from engine.models.figures import model_plot
    from tui.cli.output import print_json, stdout
    from tui.model_plot import draw_model_plot

    plot = model_plot(infos, args.task, args.x_axis)
    if args.json:
        print_json(plot.to_dict())
        return 0
    columns, lines = shutil.get_terminal_size((100, 30))
    width = min(max(columns, 60), 140) if stdout.is_terminal else 100
    height = min(max(lines - 4, 16), 40) if stdout.is_terminal else 30
    console = stdout if stdout.is_terminal else Console(width=width, color_system=None)
    console.print(f"{plot.task} models: {len(plot.points)} drawn", style="bold", highlight=False)
    console.print(draw_model_plot(plot, width, height), highlight=False)
    for line in plot_notes(plot):
        console.print(line, highlight=False, markup=False)
    return 0


NAMED = 5
"""How many left-out models a note names before it says how many more."""


def plot_notes(plot: Any) -> list[str]:
    """Return the lines under the plot: the frontier's models, what was left out and why."""
    unit = {"gflops": "GFLOPs", "params": "M params", "size": "MB"}[plot.cost]
    metric = plot.metric.rpartition(" ")[2]
    front = plot.frontier
    lines = []
    if front:
        lines.append(
            f"Pareto frontier ({len(front)} model{'s' if len(front) != 1 else ''} "
            "nothing beats, cheapest first):"
        )
        width = max(len(p.name) for p in front)
        lines += [f"  {p.name:<{width}}  {metric} {p.value:g} at {cost_text(p.cost)} {unit}" for p in front]
    for why, count in plot.left_out.items():
        names = [name for name, reason in plot.reasons.items() if reason == why]
        more = f" and {count - NAMED} more" if count > NAMED else ""
        lines.append(f"left out, {count} {why}: {', '.join(names[:NAMED])}{more}")
    if plot.other_tasks:
        lines.append(
            "other tasks listed (--task picks one): "
            + ", ".join(f"{task} {n}" for task, n in plot.other_tasks.items())
        )
    return lines


def cost_text(cost: float) -> str:
    """Return a cost with 3 significant digits, whole numbers from 100 up (1,017, never 1.02e+03)."""
    return f"{cost:,.0f}" if cost >= 100 else f"{cost:.3g}"
