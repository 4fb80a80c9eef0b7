"""content.chain: chain letters are held (000 norma 10, "correo cadena"; 001 VI "Queda prohibido el
envío de cadenas").

A chain letter presses the reader to forward it to others; it counts people ("a 10 personas",
"to everyone you know") and threatens or promises ("mala suerte", "your wish will come true").
Trusts the decoded text of the MimeView (transfer encodings and charsets undone, HTML reduced
to text by filters._mime) and the Subject; normalises it (filters._fold: NFKD, accents
dropped, casefolded, punctuation to spaces, THREATS.md C1) and looks for those signs, in
Spanish and English, running a sign's patterns only when the text has the words they need
(filters._phrases). Hands a hold verdict (configurable) to the pipeline, naming the signs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from filters import _fold, _phrases, _prefilter
from gateway.model import Action, Context, Message, Stage, Verdict

RULE = "content.chain"
NORM = "000 norma 10; 001 VI"
STAGES = (Stage.DATA,)

_NUMBER = (
    r"(?:\d+|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|quince|veinte|"
    r"two|three|four|five|seven|nine|ten|twelve|fifteen|twenty)"
)
_THIS = r"(?:este|esta|esto|estos|estas) (?:mensaje|correo|carta|cadena|imagen|aviso|oracion|tarjeta|texto)"
# The forms chain letters use: the familiar imperative with "this" or a pronoun ("reenvíalo",
# "envía este mensaje"), not the "usted" of institutional mail ("favor de reenviar", "reenvíe")
# nor an errand ("envía los viáticos").
SIGNS: dict[str, tuple[str, ...]] = {
    "reenvío / forwarding": (
        rf"\b(?:re)?envia {_THIS}\b",
        r"\b(?:re)?envia(?:lo|la|los|las)\b",
        rf"\bmanda {_THIS}\b",
        r"\bmanda(?:lo|la)\b",
        r"\bcomparte(?:lo|la)\b",
        rf"\bcomparte {_THIS}\b",
        r"\bpasa(?:lo|la)\b",
        r"\bpasa la voz\b",
        r"\bhaz(?:lo|la)? (?:circular|llegar)\b",
        r"\bsi no (?:lo |la )?(?:re)?envias\b",
        r"\bforward (?:this|it)\b",
        r"\bsend (?:this|it|copies)\b",
        r"\bpass (?:this|it) on\b",
        r"\bcopy and (?:send|paste)\b",
        r"\bshare this (?:message|post|with)\b",
        r"\be ?mail(?:ing)? (?:this|it) to\b",
        r"\bkeep this going\b",
    ),
    "personas / people": (
        rf"\ba (?:por lo menos |al menos |mas de )?{_NUMBER} (?:personas|amig[oa]s|contactos|conocidos|mujeres)\b",
        r"\btod[oa]s tus (?:contactos|amig[oa]s|conocidos)\b",
        r"\b(?:toda la gente|todos los) que conozcas\b",
        rf"\bto (?:at least )?{_NUMBER} (?:of your )?(?:people|friends|persons|contacts)\b",
        r"\b\d+ copies\b",
        r"\b(?:everyone|everybody) (?:you know|in your address book|in your contact)",
        r"\ball (?:of )?your (?:contacts|friends)\b",
    ),
    "amenaza / threat": (
        r"\bmala suerte\b",
        r"\bsi (?:lo|la) (?:borras|ignoras|rompes)\b",
        r"\b(?:murio|moriras|morira)\b",
        r"\bperdio su trabajo\b",
        r"\btuvo un accidente\b",
        r"\bsera eliminada\b",
        r"\bte cobraran\b",
        r"\bsin corazon\b",
        r"\bte quedaras sin\b",
        r"\bnadie te querra\b",
        r"\bbad luck\b",
        r"\bif you (?:don t|do not|dont) (?:send|forward|pass)",
        r"\b(?:died|will die)\b",
        r"\bwill be deleted\b",
        r"\blost (?:his|her) job\b",
    ),
    "promesa / promise": (
        r"\b(?:tendras|recibiras|te traera|anos de) (?:buena|mucha) suerte\b",
        r"\brecibiras\b",
        r"\bdeseo se cumplira\b",
        r"\bmilagro\b",
        r"\bsorpresa\b",
        r"\bdonara\b",
        r"\bveras como\b",
        rf"\ben (?:los proximos )?{_NUMBER} (?:dias|horas|minutos)\b(?! habiles)",
        r"\b(?:receive|for) good luck\b",
        r"\bwill come true\b",
        r"\bwill pay you\b",
        r"\byou will (?:receive|see)\b",
        r"\bsomething wonderful\b",
        r"\bwill donate\b",
        r"\bmiracle\b",
        rf"\bwithin (?:the next )?{_NUMBER} (?:days|hours|minutes)\b",
        rf"\bin the next {_NUMBER} (?:minutes|hours)\b",
    ),
    "cadena / chain": (
        r"\bno rompas la cadena\b",
        r"\besta cadena\b",
        r"\brompio (?:esta|la) cadena\b",
        r"\bno es broma\b",
        r"\bdado la vuelta al mundo\b",
        r"\bcarta de la suerte\b",
        r"\bno la guardes\b",
        r"\bchain letter\b",
        r"\b(?:break|broke|breaks) (?:the|this) chain\b",
        r"\bnot a joke\b",
        r"\baround the world\b",
        r"\bis tracking this\b",
    ),
}
FORWARDING = "reenvío / forwarding"
_PHRASES = {sign: _phrases.prepare(patterns) for sign, patterns in SIGNS.items()}
# "FW: RV: Fwd: …": a message forwarded over and over is a chain's usual shape
_FORWARDED = re.compile(r"^(?:\s*(?:fw|fwd|rv|re|tr)\s*:){3,}", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    action: Action = Action.HOLD  # a person decides; "reject" where the domain prefers
    # Pressure to forward plus this many other signs; or, without it, one sign more
    min_signs: int = 1
    max_chars: int = 200_000  # chain letters are short; the start of a long text is enough


def normalise(text: str) -> str:
    """Accents dropped, casefolded, punctuation and whitespace collapsed to single spaces (C1)."""
    return _fold.fold(text)


def signs(subject: str, text: str) -> tuple[tuple[str, str], ...]:
    """Each sign found, with the words that showed it."""
    spaced = _fold.spaced(f"{subject}\n{text}")
    split = spaced.split()
    present = _prefilter.words(spaced, split)
    possible = [(sign, phrases) for sign, phrases in _PHRASES.items() if _phrases.possible(phrases, present)]
    # the text the patterns run over, joined only when some sign's words are all there
    normal = b" ".join(split).decode("ascii") if possible else ""
    found = [
        (sign, match.group())
        for sign, phrases in possible
        if (match := _phrases.search(phrases, normal, present))
    ]
    if _FORWARDED.match(subject) and not any(sign == "cadena / chain" for sign, _ in found):
        found.append(("cadena / chain", subject.strip()[:40]))
    return tuple(found)


def is_chain(found: tuple[tuple[str, str], ...], min_signs: int) -> bool:
    others = sum(1 for sign, _ in found if sign != FORWARDING)
    forwarding = len(found) > others
    return others >= (min_signs if forwarding else min_signs + 2)


async def check(msg: Message, ctx: Context[Settings]) -> Verdict | None:
    if msg.view is None:
        return None
    subject = " ".join(msg.view.header("subject"))
    found = signs(subject, msg.view.text[: ctx.settings.max_chars])
    if not is_chain(found, ctx.settings.min_signs):
        return None
    return Verdict(ctx.settings.action, RULE, "; ".join(f"{sign}: «{words}»" for sign, words in found))
