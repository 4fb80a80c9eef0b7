"""The Postfix harness itself: an instance whose test process is killed outright (no teardown)
is stopped and removed by its watchdog, so no Postfix outlives the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.compuerta import ROOT
from tests.integration.postfix import free_port, require_postfix

SCRIPT = """
import sys, time
from tests.integration.postfix import Postfix
instance = Postfix.prepare()
instance.configure(int(sys.argv[1]), "", "")
instance.launch()
print(instance.root, instance._master_pid(), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_killed_test_process_leaves_no_postfix_running() -> None:
    require_postfix()
    child = subprocess.Popen([sys.executable, "-c", SCRIPT, str(free_port())], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert child.stdout is not None
    with child.stdout:
        root, pid = child.stdout.readline().split()
    assert _alive(int(pid)) and Path(root).is_dir()
    child.send_signal(signal.SIGKILL)  # no fixture teardown, no atexit
    child.wait(timeout=10)
    deadline = time.monotonic() + 30
    while (_alive(int(pid)) or Path(root).exists()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid)), f"postfix master {pid} still running"
    assert not Path(root).exists()
