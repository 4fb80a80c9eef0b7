"""Demo mode's upstream: an aiosmtpd sink that keeps every delivered message in a folder.

Trusts its only client, the gateway, on loopback. Lets a newcomer without an MTA see compuerta
work (`compuerta serve --demo`); never used in production.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


class FolderSink:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        content = envelope.original_content or b""
        name = self.folder / f"{self.count:05d}.eml"
        header = f"X-Demo-Envelope: from=<{envelope.mail_from}> to={','.join(envelope.rcpt_tos)}\r\n"
        name.write_bytes(header.encode() + content)
        log.info("demo sink: delivered %s", name)
        return "250 2.0.0 Ok: kept in " + str(name)


async def start(folder: Path) -> tuple[asyncio.Server, int]:
    """Start the sink on an ephemeral loopback port; returns the server and the port."""
    folder.mkdir(parents=True, exist_ok=True)
    sink = FolderSink(folder)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="demo-sink", enable_SMTPUTF8=True, loop=loop), "127.0.0.1", 0
    )
    port = int(server.sockets[0].getsockname()[1])
    return server, port


INSTRUCTIONS = """\
compuerta demo: SMTP on {listen}, delivered mail kept in {folder}/

Try a clean message (Python, nothing to install):
  python3 -c "import smtplib; s=smtplib.SMTP('{host}', {port}); \\
s.sendmail('ana@{domain}', ['luis@{domain}'], \\
b'From: ana@{domain}\\r\\nTo: luis@{domain}\\r\\nSubject: Hola\\r\\n\\r\\nPrueba.\\r\\n'); print('aceptado')"

Or with swaks (apt install swaks):
  swaks --server {host}:{port} --from ana@{domain} --to luis@{domain}
  swaks --server {host}:{port} --from ana@{domain} --to luis@{domain} \\
        --attach-type application/octet-stream --attach-name setup.exe --attach @/etc/hostname
The second is refused: 550 5.7.1 ... attach.dangerous (lineamiento 000 norma 18).
"""
