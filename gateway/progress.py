"""The progress of a released masivo as people read it: es-MX labels, and the JSON API's shape.

Trusts the Progress the store computed (gateway.store.progress). Hands text to the shell
(gateway.commands._progress), the web pages (templates/_progress.html) and the JSON API.
"""

from __future__ import annotations

from gateway.model import DeliveryKind, Progress

STATUS_ES = {"pending": "pendiente", "delivered": "entregado", "failed": "fallido",
             "sent": "enviado al administrador", "confirmed": "reenvío confirmado"}  # fmt: skip
KIND_ES = {DeliveryKind.HOME: "dominio propio", DeliveryKind.PEER: "administrador de otro dominio",
           DeliveryKind.DIRECT: "destinatarios autorizados"}  # fmt: skip


def as_json(progress: Progress | None) -> dict[str, object] | None:
    if progress is None:
        return None
    return {
        "total": progress.total, "delivered": progress.delivered, "failed": progress.failed,
        "pending": progress.pending, "percent": progress.percent, "done": progress.done,
        "domains": [{"domain": d.domain, "kind": d.kind.value, "status": d.status, "total": d.total,
                     "delivered": d.delivered, "failed": d.failed, "last_reply": d.last_reply,
                     "confirmed_at": d.confirmed_at.isoformat() if d.confirmed_at else None}
                    for d in progress.domains],
    }  # fmt: skip
