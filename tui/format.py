"""Numbers and glyphs as the TUI shows them: 25.6M params, 97.8 MB, ASCII or Unicode marks."""

from __future__ import annotations

from dataclasses import dataclass

from engine.words import a_or_an, plural

__all__ = ["a_or_an", "plural"]  # one plural helper for the UI and the engine


def human_count(n: int | float | None) -> str:
    """Return a parameter count in short form: 950, 9.4K, 25.6M, 1.2B ('-' when unknown)."""
    if n is None:
        return "-"
    n = float(n)
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}"


def human_bytes(n: int | float | None) -> str:
    """Return a byte size in short form: 512 B, 97.8 MB ('-' when unknown)."""
    if n is None:
        return "-"
    n = float(n)
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def short_float(x: float) -> str:
    """Return a float with 4 significant digits (scientific when very small or large)."""
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        return f"{x:.4g}"
    return f"{x:.3e}"


@dataclass(frozen=True)
class Glyphs:
    """The characters the TUI draws with: Unicode by default, ASCII only with --ascii."""

    frozen: str
    mixed: str
    trainable: str
    sep: str
    alarm: str
    ellipsis: str
    check: str
    bar_full: str
    bar_empty: str
    tree_lines: tuple[str, str, str, str]
    node_closed: str
    node_open: str


UNICODE = Glyphs(
    frozen="■", mixed="◧", trainable="□", sep=" · ", alarm="⚠", ellipsis="…", check="✓",
    bar_full="█", bar_empty="░",
    tree_lines=("  ", "│ ", "└─", "├─"), node_closed="▶ ", node_open="▼ ",
)
ASCII = Glyphs(
    frozen="#", mixed="~", trainable=".", sep=" | ", alarm="!!", ellipsis="...", check="*",
    bar_full="#", bar_empty=".",
    tree_lines=("  ", "| ", "`-", "|-"), node_closed="+ ", node_open="- ",
)


def progress_text(done: int, total: int | None, width: int, glyphs: Glyphs) -> str:
    """Return a text progress bar `[####....]  45%  11.0 MB / 24.4 MB` of about `width` cells."""
    if total:
        fraction = min(max(done / total, 0.0), 1.0)
        cells = max(width, 4)
        filled = round(fraction * cells)
        bar = glyphs.bar_full * filled + glyphs.bar_empty * (cells - filled)
        return f"[{bar}] {fraction * 100:3.0f}%  {human_bytes(done)} / {human_bytes(total)}"
    return f"{human_bytes(done)} downloaded"


def short_name(name: str, width: int, ellipsis: str = "…", sep: str = "_") -> str:
    """Return `name` cut to `width` cells in the middle, at `sep` boundaries, keeping its start
    and end.

    `fasterrcnn_mobilenet_v3_large_320_fpn` at 24 cells is `fasterrcnn…large_320_fpn`: whole
    words either side of the ellipsis, so the variants stay apart and no word is cut in half
    (a name whose first or last word alone is too long is cut inside that word).
    """
    if len(name) <= width:
        return name
    words = name.split(sep)
    head, tail = [words[0]], [words[-1]]
    left, right = 1, len(words) - 2
    fits = len(words) > 1 and len(head[0]) + len(ellipsis) + len(tail[0]) <= width
    if not fits:
        keep = max(0, width - len(ellipsis))
        return name[: (keep + 1) // 2] + ellipsis + name[len(name) - keep // 2:]
    while left <= right:  # add whole words, the end first (it tells variants apart), then the start
        grew = False
        for side in ("tail", "head"):
            if left > right:
                break
            word = words[right] if side == "tail" else words[left]
            candidate = sep.join(head) + ellipsis + sep.join(tail)
            if len(candidate) + 1 + len(word) <= width:
                if side == "tail":
                    tail.insert(0, word)
                    right -= 1
                else:
                    head.append(word)
                    left += 1
                grew = True
        if not grew:
            break
    if left > right:
        return name
    return sep.join(head) + ellipsis + sep.join(tail)


def distinct_short_names(names: list[str], width: int, ellipsis: str = "…") -> list[str]:
    """Return each of `names` cut to `width` as short_name does, except that names which would read
    the same (`fasterrcnn…fpn` for both `fasterrcnn_resnet50_fpn` and `..._mobilenet_v3_large_fpn`)
    are cut inside words instead, with more of their end kept until they differ."""
    shorts = [short_name(name, width, ellipsis) for name in names]
    alike: dict[str, list[int]] = {}
    for index, short in enumerate(shorts):
        alike.setdefault(short, []).append(index)
    keep = max(0, width - len(ellipsis))
    for indexes in alike.values():
        if len(indexes) < 2:
            continue
        for tail in range(keep // 2, keep + 1):  # the end tells variants apart: keep more of it
            cut = [_cut_middle(names[i], width, keep - tail, tail, ellipsis) for i in indexes]
            if len(set(cut)) == len(cut):
                break
        for i, short in zip(indexes, cut, strict=True):
            shorts[i] = short
    return shorts


def _cut_middle(name: str, width: int, head: int, tail: int, ellipsis: str) -> str:
    """Return `name` whole when it fits `width`, else its first `head` and last `tail` characters."""
    if len(name) <= width:
        return name
    return name[:head] + ellipsis + (name[len(name) - tail :] if tail else "")


def short_path(path: str, width: int, ellipsis: str = "…") -> str:
    """Return a dotted module path cut to `width` cells in the middle: `layer4.…conv1.weight`
    keeps the block it is in and the tensor it names (a left cut would make two paths alike)."""
    return short_name(path, width, "." + ellipsis, sep=".")


def cut_end(text: str, width: int, ellipsis: str = "…") -> str:
    """Return `text` cut to `width` cells with an ellipsis marking the cut."""
    if len(text) <= width:
        return text
    return text[: max(0, width - len(ellipsis))] + ellipsis
