"""Every SMTP reply compuerta gives, in one table: Spanish (es-MX) first, then English.

Trusts the verdicts the pipeline hands it (rule ids known to the registry); hands reply lines
to the SMTP session and the milter. No other module writes a status code.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.model import Action, Verdict


@dataclass(frozen=True)
class Reply:
    code: int
    enhanced: str  # RFC 3463
    es: str
    en: str

    def line(self, **values: str) -> str:
        """The reply as one SMTP line; ``values`` fill {placeholders} in both texts."""
        es = _fill(self.es, values)
        en = _fill(self.en, values)
        return _clean(f"{self.code} {self.enhanced} {es} / {en}")


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _clean(line: str) -> str:
    # A reply is one line of printable text: nothing from a message may break the protocol.
    safe = line if line.isprintable() else "".join(ch if ch.isprintable() else "?" for ch in line)
    return safe[:900]


RULES: dict[str, Reply] = {
    "size.max": Reply(
        552, "5.3.4",
        "Mensaje rechazado por la regla size.max (lineamiento 001 VI): excede el tamaño máximo "
        "de 25 MB permitido por mensaje ({detail}).",
        "Message refused by rule size.max: larger than the 25 MB allowed per message.",
    ),
    "rcpt.max": Reply(
        550, "5.5.3",
        "Demasiados destinatarios, regla rcpt.max (lineamiento 001 VI): el límite es de 500 "
        "por mensaje ({detail}).",
        "Too many recipients (rule rcpt.max): the limit is 500 per message.",
    ),
    "attach.dangerous": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla attach.dangerous (lineamiento 000 norma 18): no se "
        "permite enviar archivos ejecutables o de riesgo ({detail}).",
        "Message refused by rule attach.dangerous: executable or dangerous attachments are "
        "not allowed.",
    ),
    "attach.media": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla attach.media (lineamiento 002, inciso a): se prohíbe el "
        "envío de correos con contenido de música y video ({detail}).",
        "Message refused by rule attach.media: music and video attachments are not allowed.",
    ),
    "attach.uncompressed": Reply(
        552, "5.3.4",
        "Mensaje marcado por la regla attach.uncompressed (lineamiento 001 VI): los archivos "
        "mayores a 1 MB deben enviarse comprimidos, por ejemplo en un archivo .zip ({detail}).",
        "Message flagged by rule attach.uncompressed: compress attachments larger than 1 MB "
        "(e.g. in a .zip file).",
    ),
    "freemail.mass": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla freemail.mass (lineamiento 001 VI): está estrictamente "
        "prohibido el envío masivo a destinatarios de correo público (gmail, hotmail, yahoo) "
        "({detail}).",
        "Message refused by rule freemail.mass: mass mailings to public freemail recipients "
        "are not allowed.",
    ),
    "masivo": Reply(
        550, "5.7.1",
        "Correo masivo, regla masivo (lineamiento 000 norma 10, Anexo A): requiere autorización de la DGTIT "
        "({detail}).",
        "Mass mailing: needs approval.",
    ),
    "freemail.list": Reply(
        550, "5.7.1",
        "Envío a una lista de correo público, regla freemail.list (lineamiento 001 VI): sujeto a autorización "
        "({detail}).",
        "Mailing to many public freemail recipients: needs approval.",
    ),
    "sender.login": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla sender.login (procedimiento 003 5.6.7): no se permite "
        "enviar correo en nombre de otra persona; el remitente no corresponde a la cuenta "
        "autenticada ({detail}).",
        "Message refused by rule sender.login: the sender address does not belong to the "
        "authenticated user.",
    ),
    "sender.domain": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla sender.domain (lineamiento 003 4.21.1 y 5.6.7): el "
        "remitente (MAIL FROM y From:) debe ser una dirección institucional, sin alterar, y ambos "
        "deben coincidir ({detail}).",
        "Message refused by rule sender.domain: the sender (MAIL FROM and From:) must be an "
        "unaltered institutional address, and both must agree.",
    ),
    "sender.account": Reply(
        550, "5.7.1",
        "Remitente rechazado por la regla sender.account (lineamientos 001 III, 003 4.19 y 4.22, "
        "000 norma 8): la cuenta no está activa ({detail}); consulte a la mesa de ayuda.",
        "Sender refused by rule sender.account: the account is not active.",
    ),
    "sender.external": Reply(
        550, "5.7.1",
        "Destinatario rechazado por la regla sender.external (lineamiento 003 3.0): su cuenta "
        "sólo puede escribir a dominios institucionales, no a Internet ({detail}).",
        "Recipient refused by rule sender.external: this account may only write to "
        "institutional domains.",
    ),
    "rcpt.visible": Reply(
        550, "5.7.1",
        "Mensaje rechazado por la regla rcpt.visible (lineamiento 001 VI): tiene más de 5 "
        "destinatarios visibles en Para/CC ({detail}); escríbalos en el campo CCO.",
        "Message refused by rule rcpt.visible: more than 5 visible recipients in To/Cc; use Bcc.",
    ),
    "rate.messages": Reply(
        451, "4.7.1",
        "Límite de envío alcanzado, regla rate.messages (lineamiento 001 VI: 30 mensajes por "
        "minuto) ({detail}); el mensaje se reintentará.",
        "Sending limit reached (rule rate.messages, messages per minute); the message will be "
        "retried.",
    ),
    "rate.recipients": Reply(
        451, "4.7.1",
        "Límite de envío alcanzado, regla rate.recipients (lineamiento 001 VI: 10 000 "
        "destinatarios en 24 horas) ({detail}).",
        "Sending limit reached (rule rate.recipients, recipients per rolling 24 hours).",
    ),
    "rate.abuse": Reply(
        550, "5.7.1",
        "Cuenta suspendida por la regla rate.abuse (lineamiento 001 IV): tráfico excesivo; los "
        "administradores fueron notificados y son quienes la reactivan ({detail}).",
        "Sender suspended by rule rate.abuse (excessive traffic); the administrators were "
        "notified and can lift it.",
    ),
    "content.chain": Reply(
        550, "5.7.1",
        "Mensaje detenido por la regla content.chain (lineamiento 000 norma 10; 001 VI: queda "
        "prohibido el envío de cadenas): parece un correo cadena ({detail}).",
        "Message stopped by rule content.chain: it looks like a chain letter, which the policy "
        "forbids.",
    ),
}  # fmt: skip

# Advice given with the acceptance of a message that a rule tagged (001 VI asks the sender to
# change a habit, not to resend): es-MX first, then English.
ADVICE: dict[str, tuple[str, str]] = {
    "rcpt.visible": (
        "Aviso rcpt.visible (001 VI): con más de 5 destinatarios use el campo CCO",
        "Advice: with more than 5 recipients use Bcc",
    ),
}

ACCEPTED = Reply(250, "2.0.0", "Mensaje aceptado ({detail})", "Message accepted")
HELD = Reply(
    250, "2.6.0",
    "Mensaje retenido para autorización, folio {detail}; recibirá un aviso con el estado",
    "Message held for approval, ticket {detail}",
)  # fmt: skip
INTERNAL_ERROR = Reply(
    451, "4.3.0",
    "Error temporal del filtro de correo; intente más tarde ({detail})",
    "Temporary failure of the mail filter; try again later",
)  # fmt: skip
UPSTREAM_UNAVAILABLE = Reply(
    451, "4.4.1",
    "No fue posible entregar el mensaje al servidor de correo; intente más tarde ({detail})",
    "Upstream mail server unavailable; try again later",
)  # fmt: skip
STORE_UNAVAILABLE = Reply(
    451, "4.3.0",
    "El almacén de mensajes no está disponible; intente más tarde",
    "Message store unavailable; try again later",
)  # fmt: skip
UNTRUSTED_CLIENT = Reply(
    554, "5.7.1",
    "Acceso denegado: este filtro sólo acepta conexiones de la red institucional ({detail})",
    "Access denied: client not in trusted networks",
)  # fmt: skip
BAD_LINE_ENDINGS = Reply(
    550, "5.6.0",
    "Mensaje rechazado: contiene saltos de línea CR o LF aislados (RFC 5321 §2.3.8)",
    "Message refused: bare CR or LF in message data",
)  # fmt: skip
LINE_TOO_LONG = Reply(
    500, "5.5.2",
    "Línea demasiado larga (RFC 5321 §4.5.3.1.6)",
    "Line too long",
)  # fmt: skip
BAD_ADDRESS = Reply(
    553, "5.1.3",
    "Dirección inválida: contiene caracteres de control o no es válida",
    "Invalid address",
)  # fmt: skip
NUL_IN_DATA = Reply(
    550, "5.6.0",
    "Mensaje rechazado: contiene el carácter NUL (RFC 5322 §2.2)",
    "Message refused: NUL character in message data",
)  # fmt: skip
TOO_MANY_SESSIONS = Reply(
    421, "4.3.2",
    "Demasiadas conexiones simultáneas al filtro de correo; intente más tarde",
    "Too many concurrent sessions; try again later",
)  # fmt: skip
SHUTTING_DOWN = Reply(
    421, "4.3.2",
    "El filtro de correo se está deteniendo; intente más tarde",
    "Mail filter shutting down; try again later",
)  # fmt: skip

# Where a rule's action differs from the class of its reply code, the code class follows the
# action: a tempfail is always 4xx, a refusal 5xx (RFC 3463 §3.1).
_CLASS = {Action.TEMPFAIL: "4", Action.SUSPEND: "5", Action.REJECT: "5"}


def render(verdict: Verdict) -> str:
    """The SMTP reply line for a refusing or tempfailing verdict."""
    reply = RULES.get(verdict.rule)
    if reply is None:
        return INTERNAL_ERROR.line(detail=verdict.rule)
    digit = _CLASS.get(verdict.action, str(reply.code)[0])
    code = int(digit + str(reply.code)[1:])
    if digit == "5" and str(reply.code)[0] == "4":
        code = 550 if reply.code != 452 else 552
    adjusted = Reply(code, digit + reply.enhanced[1:], reply.es, reply.en)
    return adjusted.line(detail=verdict.detail or verdict.rule)


def accepted(detail: str, rules: tuple[str, ...] = ()) -> str:
    """The 250 line, with the advice of every tagging rule that has some."""
    advice = [ADVICE[rule] for rule in dict.fromkeys(rules) if rule in ADVICE]
    if not advice:
        return ACCEPTED.line(detail=detail)
    es = "; ".join(a[0] for a in advice)
    en = "; ".join(a[1] for a in advice)
    reply = Reply(ACCEPTED.code, ACCEPTED.enhanced, f"{ACCEPTED.es}. {es}", f"{ACCEPTED.en}. {en}")
    return reply.line(detail=detail)


def upstream(code: int, text: str) -> str:
    """Pass the upstream MTA's own refusal back to the client, as one clean line."""
    return _clean(f"{code} {' '.join(text.split())}")


def render_rule(rule: str, detail: str) -> str:
    """The reply of ``rule`` at its reply's own code, for refusals outside the pipeline."""
    reply = RULES.get(rule)
    return (reply or INTERNAL_ERROR).line(detail=detail)
