"""A real terminal: `ptm-tui resnet18 --weights none` under tmux, driven with keys."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def _tmux(session: str, *args: str) -> list[str]:
    """A tmux command line on the session's own server (-L): a shared server would start the
    session with the environment of whichever test started the server (PTM_HOME, TORCH_HOME)."""
    return ["tmux", "-L", session, *args]


def _capture(session: str) -> str:
    return subprocess.run(_tmux(session, "capture-pane", "-p", "-t", session), capture_output=True,
                          text=True, check=True).stdout


def _wait(session: str, text: str, timeout: float = 90.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _capture(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def _keys(session: str, *keys: str) -> None:
    subprocess.run(_tmux(session, "send-keys", "-t", session, *keys), check=True)


def test_tree_freeze_help_quit_in_a_real_terminal(tmp_path):
    session = f"ptm-smoke-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "TERM": "xterm-256color"}
    command = f"{sys.executable} -m tui.cli.main resnet18 --weights none; sleep 30"
    subprocess.run(_tmux(session, "new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                         command), check=True, env=env, cwd=os.getcwd())
    try:
        screen = _wait(session, "11.7M trainable")  # the tree may come first, from meta
        assert "resnet18 · random init · 11.7M params, 11.7M trainable · cpu" in screen
        assert "layer4 Sequential 8.4M" in screen
        _keys(session, "j", "j")  # conv1, then bn1
        screen = _wait(session, "bn1  BatchNorm2d")
        _keys(session, "j", "j", "j", "l")  # layer1, opened
        screen = _wait(session, "0 BasicBlock 74.0K")
        _keys(session, "Space")  # freeze layer1
        screen = _wait(session, "1 edit")
        assert "11.5M trainable" in screen
        assert "■ layer1 Sequential 148.0K" in screen and "■ 0 BasicBlock" in screen
        _keys(session, "/", *"downs", "Enter")  # typed at once, as a fast typist would
        screen = _wait(session, "layer2.0.downsample  Sequential")
        _keys(session, "?")
        screen = _wait(session, "ptm-tui keys: explorer")
        assert "Freeze before" in screen
        _keys(session, "Escape")
        _wait(session, "layer4 Sequential")
        _keys(session, "q")  # the freeze is not saved: q asks first (it is autosaved)
        screen = _wait(session, "has 1 edit that no saved recipe or weights file holds")
        assert "Quit anyway" in screen and "Save recipe (r)" in screen
        _keys(session, "y")
        deadline = time.monotonic() + 60  # a busy machine (CI runs two test processes) quits slower
        while "layer4 Sequential" in _capture(session):
            assert time.monotonic() < deadline, "q did not quit:\n" + _capture(session)
            time.sleep(0.2)
    finally:
        subprocess.run(_tmux(session, "kill-server"), capture_output=True)


def test_80x24_keeps_keys_buttons_and_help_in_a_real_terminal(tmp_path):
    """The size an SSH laptop may have: the footer, a dialog's buttons and the help all fit."""
    session = f"ptm-smoke-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "TERM": "xterm-256color",
           "PTM_KEYMAP": str(tmp_path / "no-keys.toml")}
    command = f"{sys.executable} -m tui.cli.main resnet18 --weights none; sleep 30"
    subprocess.run(_tmux(session, "new-session", "-d", "-s", session, "-x", "80", "-y", "24",
                         command), check=True, env=env, cwd=os.getcwd())
    try:
        screen = _wait(session, "11.7M trainable")
        footer = screen.rstrip("\n").splitlines()[-1]
        for key in ("space Freeze", "u Undo", "/ Search", "s Summary", "i Initialise", "? help"):
            assert key in footer, footer
        _keys(session, "j")  # conv1
        _wait(session, "conv1  Conv2d")
        _keys(session, "i")
        screen = _wait(session, "Initialise conv1")
        assert "Apply" in screen and "Undo" in screen and "Close" in screen
        _keys(session, "Escape")
        _wait(session, "layer4 Sequential")
        _keys(session, "?")
        screen = _wait(session, "ptm-tui keys: explorer")
        assert "closes this help" not in screen  # longer than the screen...
        _keys(session, "G")
        screen = _wait(session, "closes this help")  # ...and G scrolls to its end
        _keys(session, "g")
        _wait(session, "ptm-tui keys: explorer")
        _keys(session, "Escape")
        _wait(session, "layer4 Sequential")
        _keys(session, "q")
        deadline = time.monotonic() + 60  # a busy machine (CI runs two test processes) quits slower
        while "layer4 Sequential" in _capture(session):
            assert time.monotonic() < deadline, "q did not quit:\n" + _capture(session)
            time.sleep(0.2)
    finally:
        subprocess.run(_tmux(session, "kill-server"), capture_output=True)
