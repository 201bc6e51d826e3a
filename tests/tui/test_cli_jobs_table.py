"""`ptm-tui jobs` in a narrow terminal still prints every job id whole (resume/stop take it)."""

from __future__ import annotations

import os
import subprocess
import sys

from engine.jobs.store import jobs_root, write_status


def test_job_ids_are_never_cut_in_a_narrow_terminal(tmp_path, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path))
    job = "20261129-075340-efficientnet_v2_l-d50f"
    job_dir = jobs_root() / job
    job_dir.mkdir(parents=True)
    (job_dir / "spec.toml").write_text('[model]\nname = "efficientnet_v2_l"\n', encoding="utf-8")
    write_status(job_dir, job=job, status="done", epoch=3, epochs=3, best_val_acc=91.5,
                 last_val_acc=90.25, created=1.0)
    env = {**os.environ, "PTM_HOME": str(tmp_path), "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "tui.cli.main", "jobs"], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert job in done.stdout
    assert "91.50%" in done.stdout and "done" in done.stdout
