"""One Slurm task: `python -m engine.jobs.slurm.task JOB_DIR` under srun runs the job's runner.

torch.distributed's rendezvous comes from Slurm's environment: the rank is SLURM_PROCID, the
world SLURM_NTASKS, and rank 0 listens on the first node of the job's node list.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping


def first_node(nodelist: str) -> str:
    """Return the first host of a Slurm node list ("vm", "gpu[01-04]" -> "gpu01")."""
    try:
        done = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=30
        )
        if done.returncode == 0 and done.stdout.split():
            return done.stdout.split()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    return nodelist.split(",")[0].split("[")[0]


def rendezvous_env(env: Mapping[str, str]) -> dict[str, str]:
    """Return RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from Slurm's variables."""
    job_id = int(env.get("SLURM_JOB_ID", "0") or 0)
    restart = int(env.get("SLURM_RESTART_COUNT", "0") or 0)
    nodelist = env.get("SLURM_STEP_NODELIST") or env.get("SLURM_JOB_NODELIST") or "localhost"
    return {
        "RANK": env.get("SLURM_PROCID", "0"),
        "WORLD_SIZE": env.get("SLURM_NTASKS", "1"),
        "LOCAL_RANK": env.get("SLURM_LOCALID", "0"),
        "LOCAL_WORLD_SIZE": env.get("SLURM_NTASKS_PER_NODE", "1").split("(")[0],
        "MASTER_ADDR": env.get("MASTER_ADDR") or first_node(nodelist),
        "MASTER_PORT": env.get("MASTER_PORT") or str(20000 + (job_id * 7 + restart) % 20000),
    }


def main(argv: list[str] | None = None) -> int:
    """Set the rendezvous from Slurm's environment and run the runner on the job folder."""
    import signal

    from engine.jobs.runner import _on_signal
    from engine.jobs.runner import main as run_job

    signal.signal(signal.SIGUSR1, _on_signal)  # srun passes USR1 on: checkpoint and stop as TERM
    os.environ.update(rendezvous_env(os.environ))
    return run_job(argv)


if __name__ == "__main__":
    sys.exit(main())
