"""Whether a real Slurm takes jobs here (.ci/slurm-up.sh starts a one-node one as root)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def why_not_up() -> str | None:
    """Return why Slurm cannot take jobs here, or None when one of its nodes is up."""
    if shutil.which("sbatch") is None:
        return "sbatch is not on PATH"
    try:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"sinfo did not answer ({error})"
    if done.returncode != 0:
        return f"sinfo failed: {done.stderr.strip()[:200]}"
    states = done.stdout.split()
    if not any(s.rstrip("*") in ("idle", "mixed", "allocated") for s in states):
        return f"no Slurm node is up (sinfo says {states or 'nothing'})"
    return None


def need_slurm() -> None:
    """Skip the test without a Slurm that answers; fail it under CI=true, where .ci/run starts one."""
    why = why_not_up()
    if why is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"Slurm is not up under CI: {why} (.ci/run starts it with .ci/slurm-up.sh)")
    pytest.skip(f"Slurm is not up: {why} (as root, .ci/slurm-up.sh starts a one-node Slurm)")
