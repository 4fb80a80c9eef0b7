"""A small Directory for the recipient-classification tests: two dependencies, a peer, lists."""

from __future__ import annotations

from gateway.model import Account, Directory, DistributionList, PeerDomain

SENDER = "ana@gto.gob.mx"


def build() -> Directory:
    accounts = {
        "ana@gto.gob.mx": Account("ana@gto.gob.mx", "sfia"),
        "difusion@gto.gob.mx": Account("difusion@gto.gob.mx", "sfia", mass_mailing=True),
        **{f"s{i}@gto.gob.mx": Account(f"s{i}@gto.gob.mx", "sfia") for i in range(60)},
        **{f"e{i}@gto.gob.mx": Account(f"e{i}@gto.gob.mx", "seg") for i in range(60)},
    }
    lists = {
        "todos@gto.gob.mx": DistributionList("todos@gto.gob.mx", all_staff=True),
        "equipo@gto.gob.mx": DistributionList("equipo@gto.gob.mx", dependency="sfia"),
    }
    peers = {"cofoce.gob.mx": PeerDomain("cofoce.gob.mx", ("admin@cofoce.gob.mx",), "COFOCE")}
    return Directory(accounts, lists, peers)


def own(count: int) -> list[str]:
    return [f"s{i}@gto.gob.mx" for i in range(count)]


def other(count: int) -> list[str]:
    return [f"e{i}@gto.gob.mx" for i in range(count)]


def freemail(count: int) -> list[str]:
    return [f"ciudadano{i}@gmail.com" for i in range(count)]
