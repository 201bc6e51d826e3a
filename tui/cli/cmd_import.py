"""`ptm-tui import BUNDLE|DIR`: check a weights bundle and install its files into their caches."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `import` subcommand."""
    parser = subparsers.add_parser(
        "import", help="install a weights bundle (from `download --bundle`) into the caches",
        description="Check every file of a bundle (a tar or its unpacked folder) against its "
        "manifest (SHA-256 and size), then install them: torchvision weights into torch.hub's "
        "cache, timm weights into the Hugging Face cache. A damaged or altered bundle installs "
        "nothing and names the file that failed.")
    parser.add_argument("bundle", metavar="BUNDLE.tar|DIR", type=Path)
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per installed file: model, weights, kind, "
                        "path, bytes, sha256")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import the bundle and say what was installed; return the exit code."""
    from engine.errors import BadInput
    from engine.models.weights.bundle import import_bundle
    from engine.models.weights.checks import what_it_is
    from tui.cli.output import print_json, stderr

    source = args.bundle.expanduser()
    if not (source.is_file() or source.is_dir()):
        raise BadInput(f"cannot import {source}", what_it_is(source),
                       "give the .tar made by `ptm-tui download MODEL... --bundle FILE.tar`")
    installed = import_bundle(source)
    for item in installed:
        if args.json:
            print_json(item)
        else:
            what = item["weights"] or item["model"] or Path(item["path"]).name
            print(f"{what}: {item['path']}")
    if not args.json:
        stderr.print(f"installed {len(installed)} file(s); opening these models needs no network",
                     highlight=False)
    return 0
