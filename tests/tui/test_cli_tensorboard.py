"""`ptm-tui tensorboard [JOB]`: the command and the SSH port forward (issue 21)."""

from __future__ import annotations

import getpass
import json

from engine.jobs.store import jobs_root
from tui.cli.main import main


def _job(name: str):
    folder = jobs_root() / name
    (folder / "tensorboard").mkdir(parents=True)
    (folder / "spec.toml").write_text('[model]\nname = "resnet18"\n')
    return folder


def test_a_job_gets_its_command_and_the_port_forward(capsys):
    folder = _job("20260101-tiny-abcd")
    assert main(["tensorboard", "20260101-tiny", "--port", "6010"]) == 0
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {folder / 'tensorboard'} --port 6010" in out
    assert f"ssh -N -L 6010:localhost:6010 {getpass.getuser()}@" in out
    assert "http://localhost:6010" in out


def test_without_a_job_every_job_is_shown(capsys):
    _job("a-job")
    assert main(["tensorboard", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["logdir"] == str(jobs_root()) and shown["command"].endswith("--port 6006")


def test_bad_port_or_unknown_job_exit_2(capsys):
    assert main(["tensorboard", "--port", "70000"]) == 2
    assert "port" in capsys.readouterr().err
    assert main(["tensorboard", "no-such-job"]) == 2


def test_over_ssh_the_forward_names_the_address_the_user_reached_this_server_at(capsys, monkeypatch):
    """sshd's SSH_CONNECTION is "client port server port": the server address is the one the
    user's own machine reaches (this host's name may resolve only here, or to localhost)."""
    _job("over-ssh")
    monkeypatch.setenv("SSH_CONNECTION", "192.0.2.7 51234 198.51.100.20 22")
    assert main(["tensorboard", "over-ssh", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward"] == (
        f"ssh -N -L 6006:localhost:6006 {getpass.getuser()}@198.51.100.20"
    )
    monkeypatch.setenv("SSH_CONNECTION", "fe80::1 51234 2001:db8::20 22")  # IPv6 as sshd writes it
    assert main(["tensorboard", "over-ssh", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["forward"].endswith("@2001:db8::20")
