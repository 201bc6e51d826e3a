"""The runner forked from the CLI that validated the job: torch is imported once, not twice.

The child is the runner a new process would be (its own session, stdin from /dev/null, output
to the job's log.txt, the job's lock handed over), so status, stop and resume are the same. It
is forked before this process has used CUDA (the launcher counts GPUs through NVML), since a
CUDA context does not survive a fork.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


class ForkedRunner:
    """The forked runner as the follower sees a subprocess.Popen: its pid and poll()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """Return the runner's exit code once it has ended, else None."""
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork_runner(job_dir: Path, log_fd: int, lock_fd: int) -> ForkedRunner:
    """Fork, and run the job in the child as `python -m engine.jobs.runner JOB_DIR` would."""
    from engine.jobs import lock

    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return ForkedRunner(pid)
    code = 1
    try:  # the child: never returns into the CLI
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.environ[lock.FD_ENV] = str(lock_fd)
        from engine.jobs.runner import main

        code = main([str(job_dir)])
    except BaseException:  # whatever happens, the child must never go on as the CLI
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
