"""A followed `ptm-tui finetune` runs its job in a process forked from the CLI: torch is imported
once, and the job folder records the same as a detached job's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from finetune_helpers import digits_train, write_recipe, write_tiny

from engine.jobs.store import job_info, read_status

pytestmark = pytest.mark.timeout(300)


def _imports_torch(stderr: str) -> int:
    """How many `-X importtime` lines report importing the torch package itself."""
    return sum(
        1
        for line in stderr.splitlines()
        if line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == "torch"
    )


def test_a_followed_finetune_imports_torch_once(home, tmp_path, digits):
    train = digits_train(digits, seed=0)
    recipe = write_recipe(tmp_path / "r.toml", write_tiny(tmp_path), train)
    # PYTHONPROFILEIMPORTTIME reaches every python started from the CLI, the runner's included
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "finetune", str(recipe), "--json", "--job-id", "followed"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    job_dir = home / "jobs" / "followed"
    log = (job_dir / "log.txt").read_text()
    assert _imports_torch(run.stderr) == 1
    assert _imports_torch(log) == 0, "the runner imported torch a second time"
    final = json.loads(run.stdout.strip().splitlines()[-1])
    assert (final["status"], final["epoch"]) == ("done", 1) and os.path.isfile(final["checkpoint"])
    status = read_status(job_dir)
    assert status["pid"] == status["worker_pid"] != os.getpid()
    assert "done: " in log and job_info(job_dir).status == "done"
    again = subprocess.run(
        [sys.executable, "-m", "tui.cli.main", "finetune", str(recipe), "--json", "--job-id", "followed"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode == 2 and "already exists" in again.stderr
