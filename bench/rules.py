"""CPU per message of each DATA-stage rule, of the parse and of content.chain's two steps, on the
10 KB plain message and on a 10 KB Spanish letter (accents, curly quotes, the words of the
chain patterns in ordinary use), so a rule's cost is seen apart from the SMTP and store work.

Run: `python -m bench.rules` (bench/run includes it). Trusts the rules it calls in-process with
the embedded default profile; CPU time (time.process_time), the best of several repeats, so
other load on the machine counts as little as it can. Prints a Markdown table in µs.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from bench import corpus
from filters import content_chain
from gateway import pipeline
from gateway.clock import SystemClock
from gateway.config import build
from gateway.model import Context, Envelope, Message, Organization, Stage

ROUNDS, REPEATS = 200, 7
_PHRASES = (
    "Por medio del presente le envío el oficio número {n} de la Dirección General de Administración,",
    "con la información solicitada sobre el presupuesto del año próximo.",
    "Le recuerdo que el plazo vence en {n} días hábiles a partir de la recepción de este correo.",
    "Se convoca a {n} personas de cada área a la reunión del próximo martes en la sala “Benito Juárez”.",
    "La Secretaría envía esta circular a todas las dependencias – favor de acusar recibo.",
    "Atentamente, la Coordinación de Tecnologías de la Información • Gobierno del Estado.",
    "En caso de dudas, comuníquese a la extensión {n}; con gusto le atenderemos.",
    "Buena suerte en la evaluación; el expediente queda a su disposición en la oficialía de partes.",
)


def spanish(size: int = 10 * 1024, seed: int = 7) -> Message:
    """A Spanish institutional letter of about ``size`` bytes, as a message."""
    rng = random.Random(seed)
    lines: list[str] = []
    while sum(len(line.encode()) + 2 for line in lines) < size:
        lines.append(rng.choice(_PHRASES).format(n=rng.randint(2, 30)))
    head = ("From: Oficina <bench@gto.gob.mx>\r\nTo: <destino@ejemplo.mx>\r\nSubject: Oficio de la Dirección\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")  # fmt: skip
    raw = (head + "\r\n" + "\r\n".join(lines) + "\r\n").encode()
    return Message("BENCH", Envelope("bench@gto.gob.mx", ("destino@ejemplo.mx",)), raw=raw)


def _plain() -> Message:
    sample = corpus.plain()
    return Message("BENCH", Envelope(sample.mail_from, sample.rcpt_tos), raw=sample.data)


async def _best(call: Callable[[], Awaitable[object]]) -> float:
    """Microseconds of CPU per call, the best of REPEATS rounds."""
    best = float("inf")
    for _ in range(REPEATS):
        started = time.process_time()
        for _ in range(ROUNDS):
            await call()
        best = min(best, (time.process_time() - started) / ROUNDS * 1e6)
    return best


def _sync(function: Callable[[], object]) -> Callable[[], Awaitable[object]]:
    async def call() -> object:
        return function()

    return call


async def _column(raw: Message) -> dict[str, float]:
    config = build({"organization": {"home_domains": ["gto.gob.mx"]}})
    env = pipeline.Environment(config, SystemClock())
    msg = pipeline.parse(raw)
    assert msg.view is not None
    view = msg.view
    subject = " ".join(view.header("subject"))
    column = {"parse": await _best(_sync(lambda: pipeline.parse(raw)))}
    organization = Organization(config.organization.home_domains, config.organization.name)
    for rule, module, settings in pipeline._modules(config.profile, Stage.DATA):
        ctx = Context(settings, env.clock, organization, env.current_directory(), pipeline.NO_USAGE)
        column[rule] = await _best(lambda m=module, c=ctx: m.check(msg, c))  # type: ignore[misc]
    column["content.chain: normalise"] = await _best(
        _sync(lambda: content_chain.normalise(f"{subject}\n{view.text}"))
    )
    column["content.chain: signs"] = await _best(_sync(lambda: content_chain.signs(subject, view.text)))
    column["all DATA rules (pipeline.evaluate)"] = await _best(
        lambda: pipeline.evaluate(Stage.DATA, msg, env)
    )
    return column


def main() -> None:
    columns = {
        "10 KB plain": asyncio.run(_column(_plain())),
        "10 KB Spanish letter": asyncio.run(_column(spanish())),
    }
    names = list(next(iter(columns.values())))
    print("| CPU µs per message | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{column[name]:.0f}" for column in columns.values()) + " |")


if __name__ == "__main__":
    main()
