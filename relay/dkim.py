"""The DKIM signer: the only importer of dkimpy (style rule 18). Signs last, over the bytes sent.

Trusts its keys (read by gateway.config at startup) and the bytes it is given, which are final:
``sign`` returns a DKIM-Signature header to prepend (RFC 6376 §5), never re-serialised mail.
rsa-sha256 (RFC 6376) and ed25519-sha256 (RFC 8463). ``keygen`` makes a key and the DNS TXT
record that publishes it. Hands signed bytes back to the delivery worker and the relay.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.utils import getaddresses

import dkim
import nacl.signing

RSA, ED25519 = "rsa-sha256", "ed25519-sha256"
ALGORITHMS = (RSA, ED25519)
RSA_BITS = 2048  # RFC 8301 §3.2: signers MUST use keys of at least 1024 bits; 2048 is the norm


class DKIMError(Exception):
    """A key that cannot sign, or a message that cannot be signed."""


@dataclass(frozen=True)
class Key:
    domain: str
    selector: str
    private: bytes  # PEM (PKCS#1 or PKCS#8) for RSA; base64 of the 32-byte seed for ed25519

    @property
    def algorithm(self) -> str:
        return RSA if self.private.lstrip().startswith(b"-----BEGIN") else ED25519


def sign(raw: bytes, key: Key) -> bytes:
    """The DKIM-Signature header line(s) for ``raw``, CRLF-terminated, to prepend to it."""
    try:
        header: bytes = dkim.sign(
            raw, key.selector.encode(), key.domain.encode(), key.private,
            # relaxed/relaxed survives the harmless rewrapping MTAs do (RFC 6376 §3.4)
            canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=key.algorithm.encode(),
        )  # fmt: skip
    except (dkim.DKIMException, ValueError, TypeError) as error:  # a bad key raises ValueError
        raise DKIMError(f"cannot sign for {key.domain} ({key.selector}): {error}") from error
    return header


def verify(raw: bytes, dns: Callable[[str], bytes | None]) -> bool:
    """Whether the top signature of ``raw`` verifies against the TXT records ``dns`` returns."""

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return dns(name.decode().rstrip("."))

    return bool(dkim.verify(raw, dnsfunc=lookup))


@dataclass(frozen=True)
class Signer:
    """Signs with the key of the From: domain; relayed mail only for domains that opted in."""

    keys: Mapping[str, Key] = field(default_factory=dict)
    relayed: frozenset[str] = frozenset()

    def sign(self, raw: bytes) -> bytes:
        """``raw`` signed by its From: domain's key (mail the gateway creates or releases)."""
        key = self.keys.get(from_domain(raw))
        return raw if key is None else sign(raw, key) + raw

    def sign_relayed(self, raw: bytes) -> bytes:
        """``raw`` signed only if its From: domain asked for relayed mail to be signed."""
        if not self.relayed:
            return raw  # the common case costs nothing: no header parsing
        domain = from_domain(raw)
        if domain not in self.relayed or domain not in self.keys:
            return raw
        return sign(raw, self.keys[domain]) + raw


def from_domain(raw: bytes) -> str:
    """The domain of the first From: address (RFC 5322 §3.6.2), lower case; "" if none."""
    end = raw.find(b"\r\n\r\n")
    headers = BytesHeaderParser().parsebytes(raw if end < 0 else raw[: end + 4])
    addresses = getaddresses([str(value) for value in headers.get_all("from", [])])
    return addresses[0][1].rpartition("@")[2].lower() if addresses else ""


def keygen(algorithm: str = RSA) -> tuple[bytes, str]:
    """A new private key and the TXT record value that publishes its public half (RFC 6376 §3.6.1)."""
    if algorithm == ED25519:
        private = nacl.signing.SigningKey.generate()
        public = base64.b64encode(bytes(private.verify_key)).decode()
        return base64.b64encode(bytes(private)) + b"\n", f"v=DKIM1; k=ed25519; p={public}"
    if algorithm != RSA:
        raise DKIMError(f"unknown algorithm {algorithm!r}: {', '.join(ALGORITHMS)}")
    pem = _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{RSA_BITS}")
    der = _openssl("pkey", "-pubout", "-outform", "DER", data=pem)
    return pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def _openssl(*args: str, data: bytes | None = None) -> bytes:
    # dkimpy's own dknewkey makes RSA keys with the openssl tool too; Python has no RSA keygen
    try:
        done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise DKIMError(f"openssl {args[0]} failed: {error}") from error
    return done.stdout


def txt_record(domain: str, selector: str, value: str) -> str:
    """The zone-file line: long values split into 255-byte strings (RFC 7208 §3.3 style)."""
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)]
    quoted = " ".join(f'"{chunk}"' for chunk in chunks)
    return f"{selector}._domainkey.{domain}. IN TXT ( {quoted} )"


def check(key: Key) -> None:
    """Fail now, at startup, if ``key`` cannot sign (a bad file would fail every message)."""
    sign(b"From: a@" + key.domain.encode() + b"\r\nSubject: x\r\n\r\nx\r\n", key)
