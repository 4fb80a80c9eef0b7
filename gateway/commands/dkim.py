"""`compuerta dkim keygen DOMAIN SELECTOR`: write a signing key and print its DNS TXT record."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from relay import dkim

NAME = "dkim"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(NAME, help="DKIM keys for the mail the gateway signs")
    actions = parser.add_subparsers(dest="dkim_action", required=True)
    keygen = actions.add_parser("keygen", help="write a new key and print the DNS TXT record")
    keygen.add_argument("domain")
    keygen.add_argument("selector")
    keygen.add_argument("--algorithm", choices=dkim.ALGORITHMS, default=dkim.RSA)
    keygen.add_argument("--directory", type=Path, default=Path("."), help="where to write the key")
    keygen.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    domain, selector = args.domain.lower().strip("."), args.selector
    if "." not in domain or not selector.replace("-", "").isalnum():
        print(f"compuerta: {domain} {selector}: a domain and a selector of letters, digits and '-'")
        return 2
    private, record = dkim.keygen(args.algorithm)
    path = args.directory / f"{domain}.{selector}.key"
    # The private key is readable by its owner only; refusing to overwrite keeps a live key safe.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private)
    print(f"; clave privada / private key: {path}")
    print("; publique este registro en el DNS / publish this record in DNS:")
    print(dkim.txt_record(domain, selector, record))
    print("; y en la configuración / and in the configuration:")
    print(f'; [dkim."{domain}"]\n; selector = "{selector}"\n; key_file = "{path.resolve()}"')
    return 0
