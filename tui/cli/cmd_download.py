"""`ptm-tui download TARGET...`: fetch weights into a cache or a folder, or pack them in a bundle."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `download` subcommand."""
    parser = subparsers.add_parser(
        "download", help="download models' weights (or URLs) into the cache, a folder or a bundle",
        description="Download into torch.hub's cache ($TORCH_HOME/hub/checkpoints) or, for timm, "
        "the Hugging Face cache (HF_HOME/HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN), checking size and "
        "the SHA-256 prefix in the file name; an interrupted download resumes when run again. "
        "Prints each file's path. PTM_WEIGHTS_MIRROR=http://host/path/ replaces "
        "https://download.pytorch.org/models/.")
    parser.add_argument(
        "targets", nargs="+", metavar="MODEL[.WEIGHTS]|timm/ARCH[.TAG]|URL",
        help="e.g. resnet50 (its default weights), resnet50.IMAGENET1K_V1, "
        "timm/convnext_tiny.fb_in1k, or https://host/name-<sha256 prefix>.pth")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dest", metavar="DIR", type=Path,
                       help="download into this folder (e.g. a lab's shared weights folder) "
                       "keeping the upstream file name; open with --weights DIR")
    where.add_argument("--bundle", metavar="FILE.tar", type=Path,
                       help="pack the files with a manifest into one tar for a server without "
                       "internet; install it there with `ptm-tui import FILE.tar`")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per target: path, url, source, bytes, "
                        "sha256_prefix_ok...")
    parser.set_defaults(func=run)


@dataclass
class Target:
    """What one download target names: a URL, or a model's weights (torchvision or timm)."""

    url: str
    model: str | None = None
    weights: str | None = None
    repo: str | None = None
    """The Hugging Face repo of timm weights (url is then hf://repo)."""


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
    """Download every target and print where each is; return the exit code."""
    from engine.models.weights.checks import check_output_file, check_output_folder

    targets = [Target(*resolve_target(t)) for t in args.targets]  # all bad input first
    if args.bundle is not None:
        args.bundle = check_output_file(args.bundle, "--bundle")
    if args.dest is not None:
        args.dest = check_output_folder(args.dest, "--dest")
    for target in targets:
        if target.url.startswith("hf://"):
            target.repo = target.url.removeprefix("hf://")
    fetched = [_fetch(target, args) for target in targets]
    if args.bundle is not None:
        from engine.models.weights.bundle import write_bundle
        from tui.cli.output import print_json, stderr

        write_bundle(args.bundle, [(path, entry) for path, entry, _ in fetched])
        size = args.bundle.stat().st_size
        if args.json:
            print_json({"bundle": str(args.bundle), "bytes": size,
                        "files": [info for _, _, info in fetched]})
        else:
            stderr.print(f"bundle of {len(fetched)} file(s), {size / 1e6:.1f} MB: copy it to the "
                         "server and run `ptm-tui import` on it", highlight=False)
            print(args.bundle)
    return 0


def _fetch(target: Target, args: argparse.Namespace) -> tuple[Path, Any, dict[str, Any]]:
    """Download one target; print its path unless a bundle is made; return (path, entry, info)."""
    from engine.models.weights.bundle import entry_for
    from tui.cli.output import print_json, stderr

    started = time.monotonic()
    if target.repo is not None:
        path, was_cached, info = _fetch_hub(target, args.dest)
        entry = entry_for(path, "huggingface", target.model, target.weights, repo=target.repo,
                          revision=_revision(path))
    else:
        path, was_cached, info = _fetch_url(target, args.dest)
        entry = entry_for(path, "torch.hub", target.model, target.weights, source=target.url)
    if args.bundle is not None:
        return path, entry, info
    if args.json:
        print_json(info)
    else:
        size = path.stat().st_size
        if was_cached:
            stderr.print(f"already there ({size / 1e6:.1f} MB)", highlight=False)
        else:
            seconds = max(time.monotonic() - started, 1e-6)
            stderr.print(f"downloaded {size / 1e6:.1f} MB in {seconds:.1f} s from "
                         f"{info['source']}", highlight=False)
        print(path)
    return path, entry, info


def _fetch_url(target: Target, dest: Path | None) -> tuple[Path, bool, dict[str, Any]]:
    """Download a torch.hub-style file into the cache or `dest`; return (path, was there, info)."""
    from engine.errors import WorkFailed, redact
    from engine.models.weights import (
        cached_file,
        download,
        file_name,
        hash_matches,
        hash_prefix,
        mirror_url,
    )
    from tui.cli.output import progress_bar

    url = target.url
    there = dest.expanduser() if dest else None
    existing = (there / file_name(url)) if there else None
    was_cached = existing.is_file() if existing is not None else cached_file(url) is not None
    if was_cached:
        path = download(url, folder=there)
        prefix_ok = hash_matches(path)
        if prefix_ok is False:
            raise WorkFailed(
                f"the file {path} is damaged",
                f"its SHA-256 does not start with {hash_prefix(path.name)}, as its name promises",
                f"delete it (rm {path}) and run the command again",
            )
    else:
        with progress_bar(f"downloading {file_name(url)}") as update:
            path = download(url, progress=update, folder=there)
        prefix_ok = True if hash_prefix(path.name) else None
    return path, was_cached, {
        "path": str(path), "url": redact(url), "source": redact(mirror_url(url)), "model": target.model,
        "weights": target.weights, "bytes": path.stat().st_size,
        "sha256_prefix": hash_prefix(path.name), "sha256_prefix_ok": prefix_ok,
        "cached_before": was_cached}


def _fetch_hub(target: Target, dest: Path | None) -> tuple[Path, bool, dict[str, Any]]:
    """Fetch timm weights through the Hugging Face cache (then into `dest` as ARCH.TAG.ext)."""
    from engine.errors import redact
    from engine.models.weights import hf
    from engine.models.weights.bundle import copy_atomic
    from tui.cli.output import progress_bar

    repo = str(target.repo)
    cached = hf.cached_hub_file(repo)
    if cached is not None:
        path = cached
    else:
        with progress_bar(f"downloading {repo}") as update:
            path = hf.hub_file(repo, progress=update)
    if dest is not None:
        there = dest.expanduser() / f"{target.weights}{path.suffix}"
        if not there.is_file():
            copy_atomic(path, there)
            cached = None
        path = there
    return path, cached is not None, {
        "path": str(path), "repo": repo, "source": redact(f"{hf.endpoint()}/{repo}"),
        "model": target.model, "weights": target.weights, "bytes": path.stat().st_size,
        "revision": _revision(path), "cached_before": cached is not None}


def _revision(path: Path) -> str | None:
    """Return the commit a Hugging Face cache file belongs to (snapshots/<commit>/file), or None."""
    resolved = path.parent
    return resolved.name if resolved.parent.name == "snapshots" else None
