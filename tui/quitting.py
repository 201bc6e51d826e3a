"""Quitting at once: background work that is being thrown away is not waited for."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn


class NoWaitExecutor(ThreadPoolExecutor):
    """The thread pool of Textual's thread workers; shutting it down never waits for them.

    asyncio.run() ends by shutting the loop's default executor down with wait=True, so
    `q` during a model load or a summary waited for that work (seconds) before exiting.
    """

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work and drop what has not started; never wait for running work."""
        super().shutdown(wait=False, cancel_futures=True)


def use_no_wait_executor() -> None:
    """Make the running loop's thread workers run in a NoWaitExecutor."""
    asyncio.get_running_loop().set_default_executor(
        NoWaitExecutor(thread_name_prefix="ptm-worker"))


def exit_now(code: int) -> NoReturn:
    """End the process with `code` now: no joining of worker threads, no interpreter teardown
    (torch's takes 2-3 s). Call it only after the app has restored the terminal."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
