"""`ptm-tui download MODEL[.WEIGHTS]|URL`: fetch weights into torch.hub's cache, print the path."""

from __future__ import annotations

import argparse
import time
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `download` subcommand."""
    parser = subparsers.add_parser(
        "download", help="download a model's weights (or any URL) into torch.hub's cache",
        description="Download into torch.hub's cache ($TORCH_HOME/hub/checkpoints), checking "
        "size and the SHA-256 prefix in the file name; an interrupted download resumes when run "
        "again. Prints the cached path. PTM_WEIGHTS_MIRROR=http://host/path/ replaces "
        "https://download.pytorch.org/models/.")
    parser.add_argument(
        "target", metavar="MODEL[.WEIGHTS]|URL",
        help="e.g. resnet50 (its default weights), resnet50.IMAGENET1K_V1, "
        "resnet50.ResNet50_Weights.IMAGENET1K_V2, or https://host/name-<sha256 prefix>.pth")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: path, url, source, bytes, sha256_prefix_ok...")
    parser.set_defaults(func=run)


def resolve_target(target: str) -> tuple[str, str | None, str | None]:
    """Return (url, model name or None, weights name or None) for a download target."""
    from engine.errors import BadInput
    from engine.models import catalog
    from engine.models.weights import file_name, is_download_url

    if is_download_url(target):
        file_name(target)  # a malformed URL is bad input here, not a traceback later
        return target, None, None
    if "://" in target:
        scheme = target.split("://", 1)[0]
        raise BadInput(f"cannot download {target}", f"{scheme}:// is not supported, only http(s)://",
                       "give an http:// or https:// URL or a model name such as resnet50; "
                       "a local file is opened in place with --weights PATH")
    name, spec = target, "default"
    head, dot, rest = target.partition(".")
    if dot and ":" not in target and not target.startswith("timm/") \
            and head in catalog.model_names():
        name, spec = head, rest or "default"
    try:
        weights = catalog.resolve_weights(name, spec)
    except BadInput as error:
        if "no pretrained weights" not in error.what:
            raise
        raise BadInput(f"{target} has no weights file to download", error.why,
                       "download its weights by URL instead, or build it with --weights none") from None
    if weights is None:  # e.g. resnet50.none
        raise BadInput(f"{target} names no weights file", f"{spec!r} means random weights",
                       "give MODEL, MODEL.WEIGHTS (e.g. resnet50.IMAGENET1K_V2) or a URL")
    return weights.url, name, weights.name


def run(args: argparse.Namespace) -> int:
    """Download the target and print where it is; return the exit code."""
    from engine.errors import WorkFailed
    from engine.models.weights import (
        cached_file,
        download,
        file_name,
        hash_matches,
        hash_prefix,
        mirror_url,
    )
    from tui.cli.output import print_json, progress_bar, stderr

    url, model, weights_name = resolve_target(args.target)
    was_cached = cached_file(url) is not None
    started = time.monotonic()
    if was_cached:
        path = download(url)
        prefix_ok = hash_matches(path)
        if prefix_ok is False:
            raise WorkFailed(
                f"the cached file {path} is damaged",
                f"its SHA-256 does not start with {hash_prefix(path.name)}, as its name promises",
                f"delete it (rm {path}) and run the command again",
            )
    else:
        with progress_bar(f"downloading {file_name(url)}") as update:
            path = download(url, progress=update)
        prefix_ok = True if hash_prefix(path.name) else None
    size = path.stat().st_size
    if args.json:
        print_json({"path": str(path), "url": url, "source": mirror_url(url), "model": model,
                    "weights": weights_name, "bytes": size,
                    "sha256_prefix": hash_prefix(path.name), "sha256_prefix_ok": prefix_ok,
                    "cached_before": was_cached})
    else:
        if was_cached:
            stderr.print(f"already cached ({size / 1e6:.1f} MB)", highlight=False)
        else:
            seconds = max(time.monotonic() - started, 1e-6)
            stderr.print(f"downloaded {size / 1e6:.1f} MB in {seconds:.1f} s from "
                         f"{mirror_url(url)}", highlight=False)
        print(path)
    return 0
