"""Entry point of `ptm-tui`: a subcommand runs headless, anything else opens the TUI."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from engine.errors import PtmError

# Subcommand name -> module under tui.cli defining `register(subparsers)`.
# Modules import torch and the engine lazily, inside their run functions, so that
# `ptm-tui MODEL` can draw its first frame before torch has finished importing.
COMMANDS: dict[str, str] = {
    "models": "cmd_models",
    "inspect": "cmd_inspect",
    "summary": "cmd_summary",
    "download": "cmd_download",
    "import": "cmd_import",
    "replay": "cmd_replay",
    "features": "cmd_features",
    "init-lab": "cmd_init_lab",
    "init": "cmd_init",
    "predict": "cmd_predict",
    "actmap": "cmd_actmap",
    "graph": "cmd_graph",
    "export": "cmd_export",
    "diff": "cmd_diff",
    "finetune": "cmd_finetune",
    "jobs": "cmd_jobs",
    "resume": "cmd_resume",
    "stop": "cmd_stop",
    "eval": "cmd_eval",
    "join": "cmd_join",
    "lr-find": "cmd_lr_find",
    "layers": "cmd_layers",
    "compare": "cmd_compare",
    "tensorboard": "cmd_tensorboard",
    "doctor": "cmd_doctor",
}


def version_text() -> str:
    """Return "ptm-tui X (torch Y, torchvision Z, textual W)", read without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return (f"ptm-tui {of('ptm-tui')} (torch {of('torch')}, torchvision {of('torchvision')}, "
            f"textual {of('textual')})")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="ptm-tui",
        description="A terminal workbench for PyTorch pretrained models. "
        "`ptm-tui` opens the model catalog, `ptm-tui MODEL` the explorer, "
        "`ptm-tui COMMAND ...` runs headless.",
    )
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"tui.cli.{module}").register(sub)
    return parser


def build_tui_parser() -> argparse.ArgumentParser:
    """Return the parser of `ptm-tui [MODEL]` (the interactive app)."""
    parser = argparse.ArgumentParser(
        prog="ptm-tui",
        description="Open the model catalog, or the explorer on MODEL. "
        f"Headless commands: {', '.join(COMMANDS)} (ptm-tui COMMAND --help).",
    )
    parser.add_argument("model", nargs="?", help="model name, timm/<name>, pkg.mod:factory, file.py:Class, "
                        "or a finetune job id, checkpoint or saved weights file (as trained)")
    parser.add_argument(
        "--weights", default="default",
        help="default (the model's pretrained weights when cached or downloadable), none, "
        "a weights name, a file path or a URL",
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("--ascii", action="store_true", help="draw with ASCII characters only")
    parser.add_argument("--light", action="store_true", help="use the light theme")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    from tui.cli.trust import add_trust_flag

    add_trust_flag(parser)
    parser.add_argument("--restore", action="store_true",
                        help="open the model whose edits were autosaved last (a session that "
                        "ended unsaved) and offer to replay them")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list and args_list[0] in COMMANDS:
            args = build_parser().parse_args(args_list)
            return int(args.func(args) or 0)
        if args_list and args_list[0] in ("-h", "--help") and len(args_list) == 1:
            build_parser().print_help()
            return 0
        args = build_tui_parser().parse_args(args_list)
        from tui.app import run_app

        return run_app(args)
    except PtmError as error:
        from engine.text import printable

        print(f"ptm-tui: {printable(error.message, newlines=True)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("ptm-tui: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
