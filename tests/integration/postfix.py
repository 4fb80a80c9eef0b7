"""A real Postfix for tests: its own instance in a temporary directory, built from deploy/ snippets.

Installs nothing: it needs the ``postfix`` binary (``scripts/setup --test`` installs Debian's)
and root (``postfix start`` drops to mail_owner itself). Without them a test fails under CI and
is skipped elsewhere. Each instance has its own config_directory, queue_directory and
data_directory under one temporary directory, listens on loopback high ports only (never 25),
relays everything to ``relayhost`` (the test's sink) and keeps its log in ``maillog``. The
shipped deploy/postfix snippets are appended with the test's ports put in place of 10024/10025,
so the test exercises exactly what an administrator installs. ``stop()`` always leaves no
Postfix process behind, whatever happened.

Other areas reuse it (the milter, issue 10): ``Postfix.start(extra_main=..., extra_master=...)``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "postfix"
FILTER = "127.0.0.1:10024"  # compuerta's listener in the shipped snippets ("[127.0.0.1]:10024" too)
REINJECT = "127.0.0.1:10025"  # Postfix's re-injection listener in the shipped snippets
PUBLIC = "smtp      inet"  # the before-queue snippet's public listener

# Every daemon Postfix needs to queue, relay and bounce; chroot off (nothing is set up in the jail).
MASTER = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

MAIN = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mta.compuerta.test
mydomain = compuerta.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
relayhost = [127.0.0.1]:{relay_port}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
smtp_connect_timeout = 5s
biff = no
delay_warning_time = 0
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
# Retry deferred mail at once in tests (production keeps the defaults: 300 s).
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
"""


def free_port() -> int:
    """A loopback port nobody listens on now (a race is possible but harmless in tests)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_postfix() -> str:
    """The postfix binary; fails under CI (a missing component is an error there), else skips."""
    binary = shutil.which("postfix") or shutil.which("postfix", path="/usr/sbin:/usr/bin")
    problem = ""
    if binary is None:
        problem = "postfix is not installed (scripts/setup --test installs it)"
    elif os.geteuid() != 0:
        problem = "a test Postfix instance must be started as root"
    if problem:
        require("Postfix", problem)
    assert binary is not None
    return binary


def render(snippet: str, filter_port: int, reinject_port: int | None = None,
           public_port: int | None = None) -> str:  # fmt: skip
    """``snippet`` (a deploy/postfix file) with the test's ports; each address given must be there."""
    snippet = snippet.replace("[127.0.0.1]:10024", FILTER)
    replacements = {FILTER: f"[127.0.0.1]:{filter_port}" if "content_filter =" in snippet
                    else f"127.0.0.1:{filter_port}"}  # fmt: skip
    if reinject_port is not None:
        replacements[REINJECT] = f"127.0.0.1:{reinject_port}"
    if public_port is not None:
        replacements[PUBLIC] = f"127.0.0.1:{public_port} inet"
    for old, new in replacements.items():
        assert old in snippet, f"the shipped snippet no longer has {old!r}"
        snippet = snippet.replace(old, new)
    return snippet


def snippet(mode: str, name: str) -> str:
    return (DEPLOY / mode / name).read_text()


@dataclass
class Postfix:
    """One running instance; ``port`` is where test clients submit mail."""

    root: Path
    port: int
    binary: str
    running: bool = field(default=False)
    watchdog: subprocess.Popen[bytes] | None = None

    @property
    def config(self) -> Path:
        return self.root / "etc"

    @classmethod
    def start(cls, relay_port: int, extra_main: str = "", extra_master: str = "",
              listener: bool = True) -> Postfix:  # fmt: skip
        """Create and start an instance relaying to ``relay_port``. ``listener`` adds a plain
        smtpd on ``port``; without it, ``extra_master`` must define the service on ``port``
        (render its snippet with ``public_port=instance port``: see ``Postfix.prepare``)."""
        instance = cls.prepare()
        instance.configure(relay_port, extra_main, extra_master, listener)
        instance.launch()
        return instance

    @classmethod
    def prepare(cls) -> Postfix:
        binary = require_postfix()
        root = Path(tempfile.mkdtemp(prefix="compuerta-postfix-"))
        root.chmod(0o755)  # the daemons run as mail_owner and must reach the queue
        return cls(root, free_port(), binary)

    def configure(self, relay_port: int, extra_main: str, extra_master: str, listener: bool = True) -> None:
        for folder in (self.config, self.root / "queue", self.root / "data"):
            folder.mkdir(mode=0o755)
        shutil.chown(self.root / "data", "postfix")  # data_directory belongs to mail_owner
        main = MAIN.format(root=self.root, relay_port=relay_port) + "\n" + extra_main
        (self.config / "main.cf").write_text(main)
        public = f"127.0.0.1:{self.port} inet  n       -       n       -       -       smtpd\n"
        master = (public if listener else "") + MASTER + "\n" + extra_master
        (self.config / "master.cf").write_text(master)

    def launch(self) -> None:
        self.running = True  # from here on, stop() must run even if start fails halfway
        self.watchdog = self._watch()
        result = self.postfix("start")
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stderr}{self.log()}")
        _wait_listening(self.port, self)

    def postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-c", str(self.config), *args], capture_output=True,
                              text=True, timeout=60, check=False)  # fmt: skip

    def flush(self) -> None:
        """Retry the deferred queue now (postqueue -f) instead of waiting for the next queue run."""
        subprocess.run(["postqueue", "-c", str(self.config), "-f"], check=True, timeout=30)

    def queue(self) -> list[dict[str, object]]:
        """The messages in Postfix's queue (postqueue -j: one JSON object per message)."""
        out = subprocess.run(["postqueue", "-c", str(self.config), "-j"], capture_output=True,
                             text=True, check=True, timeout=30).stdout  # fmt: skip
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def log(self) -> str:
        path = self.root / "maillog"
        return "\n--- maillog ---\n" + (
            path.read_text(errors="replace")[-6000:] if path.exists() else "(none)"
        )

    def stop(self) -> None:
        """Stop the instance and remove its directory; never leaves a Postfix process running."""
        if self.running:
            pid = self._master_pid()
            self.postfix("stop")
            if pid is not None:
                self._kill_leftover(pid)
            self.running = False
        if self.watchdog is not None:
            self.watchdog.kill()  # the watchdog this instance started, by its own handle
            self.watchdog.wait(timeout=10)
            self.watchdog = None
        shutil.rmtree(self.root, ignore_errors=True)

    def _watch(self) -> subprocess.Popen[bytes]:
        """A detached shell that aborts this instance if the test process dies without its
        teardown (SIGKILL, a hard timeout): no Postfix outlives the tests, whatever happens."""
        script = ('while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
                  '"$2" -c "$3/etc" abort >/dev/null 2>&1; rm -rf "$3"')  # fmt: skip
        return subprocess.Popen(["sh", "-c", script, "watchdog", str(os.getpid()), self.binary,
                                 str(self.root)], start_new_session=True)  # fmt: skip

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _kill_leftover(self, pid: int) -> None:
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            self.postfix("abort")
            os.kill(pid, signal.SIGKILL)  # only the master this instance started


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_listening(port: int, instance: Postfix, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"postfix did not listen on {port}{instance.log()}")
