"""relay.fanout.plan: home recipients in batches, one job per peer domain, never external ones."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.model import (
    Action,
    Delivery,
    DeliveryKind,
    Directory,
    Envelope,
    HeldMessage,
    PeerDomain,
    Verdict,
)
from relay.fanout import home_of, plan

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MASIVO = (Verdict(Action.HOLD, "masivo", "all-staff list"),)
PEERS = {
    "isseg.gob.mx": PeerDomain("isseg.gob.mx", ("admin@isseg.gob.mx",)),
    "cofoce.gob.mx": PeerDomain("cofoce.gob.mx", ("ti@cofoce.gob.mx", "TI@cofoce.gob.mx", "b@cofoce.gob.mx")),
    "sinadmin.gob.mx": PeerDomain("sinadmin.gob.mx", ()),
}


def held(*rcpts: str) -> HeldMessage:
    return HeldMessage(
        "M1", Envelope("ana@gto.gob.mx", rcpts), b"Subject: x\r\n\r\nx\r\n", MASIVO, AT, ticket="C-000001"
    )


def test_home_recipients_in_batches_and_one_job_per_peer() -> None:
    home = [f"p{n}@gto.gob.mx" for n in range(7)]
    jobs = plan(
        held(*home, "x@sfia.gto.gob.mx"), Directory(peers=PEERS), ["gto.gob.mx"], "nr@gto.gob.mx", batch=3
    )
    assert [j.rcpt_tos for j in jobs if j.kind is DeliveryKind.HOME] == [
        tuple(home[0:3]),
        tuple(home[3:6]),
        (home[6], "x@sfia.gto.gob.mx"),
    ]
    assert jobs[-2:] == [
        Delivery(
            DeliveryKind.PEER, "cofoce.gob.mx", "nr@gto.gob.mx", ("ti@cofoce.gob.mx", "b@cofoce.gob.mx"), 3
        ),
        Delivery(DeliveryKind.PEER, "isseg.gob.mx", "nr@gto.gob.mx", ("admin@isseg.gob.mx",), 4),
    ]
    assert [j.batch for j in jobs] == [0, 1, 2, 3, 4]
    assert all(j.mail_from == "ana@gto.gob.mx" for j in jobs[:3])


def test_external_and_peer_recipients_are_never_sent_directly() -> None:
    jobs = plan(
        held("luis@gto.gob.mx", "LUIS@GTO.GOB.MX", "fan@gmail.com", "x@isseg.gob.mx", "y@notgto.gob.mx"),
        Directory(peers=PEERS), ["GTO.gob.mx"], "nr@gto.gob.mx",
    )  # fmt: skip
    recipients = [r for j in jobs for r in j.rcpt_tos]
    assert recipients == ["luis@gto.gob.mx", "ti@cofoce.gob.mx", "b@cofoce.gob.mx", "admin@isseg.gob.mx"]


def test_a_peer_that_is_a_home_domain_gets_no_copy() -> None:
    peers = {"gto.gob.mx": PeerDomain("gto.gob.mx", ("admin@gto.gob.mx",))}
    jobs = plan(held("a@gto.gob.mx"), Directory(peers=peers), ["gto.gob.mx"], "nr@gto.gob.mx")
    assert [j.kind for j in jobs] == [DeliveryKind.HOME]


def test_home_of() -> None:
    assert home_of("a@sub.gto.gob.mx", ["gto.gob.mx"]) == "gto.gob.mx"
    assert home_of("a@xgto.gob.mx", ["gto.gob.mx"]) is None


def test_a_message_held_for_another_rule_goes_to_its_own_envelope() -> None:
    rcpts = tuple(f"persona{n}@gmail.com" for n in range(3))
    freemail = HeldMessage(
        "M2", Envelope("ana@gto.gob.mx", rcpts), b"x", (Verdict(Action.HOLD, "freemail.list"),), AT
    )
    jobs = plan(freemail, Directory(peers=PEERS), ["gto.gob.mx"], "nr@gto.gob.mx", batch=2)
    assert jobs == [
        Delivery(DeliveryKind.DIRECT, "", "ana@gto.gob.mx", rcpts[:2], 0),
        Delivery(DeliveryKind.DIRECT, "", "ana@gto.gob.mx", rcpts[2:], 1),
    ]
