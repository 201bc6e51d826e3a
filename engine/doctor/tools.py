"""The programs ptm-tui uses when they are there: Slurm's sbatch and squeue, tmux, Graphviz's dot."""

from __future__ import annotations

import shutil
import subprocess

from engine.doctor.check import Check


def tool_version(path: str, flag: str) -> str | None:
    """Return the first line `path flag` prints (its version), or None when it says nothing in 2 s."""
    try:
        done = subprocess.run(
            [path, flag], capture_output=True, text=True, timeout=2, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()  # dot -V answers on stderr
    return lines[0].strip()[:80] if lines else None


def tool_checks() -> list[Check]:
    """Return one line each for Slurm, tmux and Graphviz: found where, which version, or what it is for."""
    rows = []
    slurm = {name: shutil.which(name) for name in ("sbatch", "squeue")}
    missing = [name for name, path in slurm.items() if path is None]
    if missing:
        rows.append(
            Check(
                "tools",
                "Slurm",
                "info",
                f"{' and '.join(missing)} not on PATH: --slurm jobs cannot be submitted from here",
                "on a cluster: run on a Slurm login node, or `module load slurm`",
                slurm,
            )
        )
    else:
        version = tool_version(slurm["sbatch"] or "sbatch", "--version")
        rows.append(
            Check(
                "tools",
                "Slurm",
                "ok",
                f"{version or 'sbatch'} ({slurm['sbatch']})",
                details=slurm | {"version": version},
            )
        )
    for name, flag, purpose, fix in (
        (
            "tmux",
            "-V",
            "keeps the TUI open when SSH drops",
            "install tmux (apt install tmux); jobs run "
            "detached without it, only the TUI does not survive a dropped SSH connection",
        ),
        (
            "dot",
            "-V",
            "draws `ptm-tui graph` as pdf/svg/png",
            "install Graphviz (apt install graphviz); without it `ptm-tui graph` writes only the .dot file",
        ),
    ):
        path = shutil.which(name)
        if path is None:
            rows.append(Check("tools", name, "info", f"not on PATH ({purpose})", fix, {"path": None}))
        else:
            version = tool_version(path, flag)
            rows.append(
                Check(
                    "tools",
                    name,
                    "ok",
                    f"{version or name} ({path})",
                    details={"path": path, "version": version},
                )
            )
    return rows
