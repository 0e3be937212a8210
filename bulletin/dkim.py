"""DKIM signatures (RFC 6376) for the per-recipient messages.

Each message differs (its To, its links), so each is signed on its own: the body hashed with
simple canonicalization, the headers relaxed, the signature made by OpenSSL through the
`cryptography` package (rsa-sha256 or, with an Ed25519 key, ed25519-sha256 of RFC 8463).
The headers' canonical forms that are the same for every recipient are made once per
template. The signed headers include List-Unsubscribe and List-Unsubscribe-Post, as Gmail and
Yahoo require for one-click unsubscribe; From, Subject, To and the list headers are signed once
more than they appear, so nobody can add a second one without breaking the signature.

dkimpy (the reference verifier) checks these signatures in the tests."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import SettingsError
from .message import sender_domain
from .settings import Workspace

if TYPE_CHECKING:  # cryptography is imported when a key is loaded, not with this module
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

SIGNED = ("from", "to", "subject", "date", "message-id", "reply-to", "list-id",
          "list-unsubscribe", "list-unsubscribe-post", "feedback-id", "mime-version",
          "content-type", "content-transfer-encoding")
"""Headers signed when the message has them, in this order."""
OVERSIGNED = ("from", "to", "subject", "reply-to", "list-id", "list-unsubscribe",
              "list-unsubscribe-post")
"""Listed once more in h=: a header of this name added later breaks the signature."""

_WSP = re.compile(rb"[ \t]+")
_FOLD = re.compile(rb"\r\n(?=[ \t])")
_SELECTOR = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$")


def relaxed_header(name: str | bytes, value: str | bytes) -> bytes:
    """One header field in relaxed canonical form (RFC 6376 3.4.2), ending in CRLF."""
    name_b = name.encode("ascii") if isinstance(name, str) else name
    value_b = value.encode("utf-8") if isinstance(value, str) else value
    value_b = _WSP.sub(b" ", _FOLD.sub(b"", value_b)).strip(b" \r\n")
    return name_b.strip().lower() + b":" + value_b + b"\r\n"


def header_fields(section: bytes) -> list[tuple[bytes, bytes]]:
    """(name, value) for each field of a header section, folded lines kept in the value."""
    fields: list[tuple[bytes, bytes]] = []
    for line in _FOLD.sub(b"\x00", section).split(b"\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            raise ValueError(f"not a header field: {line[:40]!r}")
        fields.append((name, value.replace(b"\x00", b"\r\n")))
    return fields


@dataclass(frozen=True)
class DkimSigner:
    """A private key, with the domain and selector its public key is published under
    (`<selector>._domainkey.<domain>` TXT "v=DKIM1; k=rsa; p=...")."""

    domain: str
    selector: str
    pem: bytes = field(repr=False)
    _key: RSAPrivateKey | Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    algorithm: str = field(init=False, compare=False)
    """rsa-sha256, or ed25519-sha256 (RFC 8463) for an Ed25519 key."""

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = _load_key(self.pem)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "algorithm", "ed25519-sha256" if isinstance(
            key, ed25519.Ed25519PrivateKey) else "rsa-sha256")

    def __getstate__(self) -> tuple[str, str, bytes]:
        return (self.domain, self.selector, self.pem)

    def __setstate__(self, state: tuple[str, str, bytes]) -> None:
        for name, value in zip(("domain", "selector", "pem"), state, strict=True):
            object.__setattr__(self, name, value)
        self.__post_init__()

    def public_record(self) -> str:
        """The TXT record to publish at `<selector>._domainkey.<domain>`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519

        public = self._key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
            return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
        der = public.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"

    def prepare(self, headers: Iterable[tuple[bytes, bytes]]) -> SigningPlan:
        """What stays the same for every message with these fixed header fields."""
        return SigningPlan(self, {name.strip().lower(): relaxed_header(name, value)
                                  for name, value in headers})

    def signed(self, message: bytes) -> bytes:
        """`message` (whole, CRLF line ends, not dot-stuffed) with its DKIM-Signature first:
        for a message made on its own rather than from a template (a confirmation email)."""
        section, body = message.split(b"\r\n\r\n", 1)
        return self.prepare(header_fields(section + b"\r\n")).signature({}, [body]) + message

    def _sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import ed25519

        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):  # algorithm ed25519-sha256
            return key.sign(hashlib.sha256(data).digest())
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass(frozen=True)
class SigningPlan:
    """A signer with the canonical forms of one template's fixed header fields."""

    signer: DkimSigner
    fixed: dict[bytes, bytes]

    def signature(self, varying: dict[bytes, bytes], body: Iterable[bytes],
                  timestamp: int | None = None) -> bytes:
        """The DKIM-Signature field for one message: `varying` holds the canonical forms of
        its own fields (`relaxed_header`) by lower-case name; `body` its body in pieces
        (CRLF line ends, not dot-stuffed)."""
        digest = hashlib.sha256()
        last = b""
        for piece in body:
            if piece:
                digest.update(piece)
                last = piece
        if not last.endswith(b"\r\n"):  # simple body canonicalization: end with a CRLF
            digest.update(b"\r\n")
        present = {**self.fixed, **varying}
        names, listed = _signed_names(frozenset(present))
        signer = self.signer
        value = (f"v=1; a={signer.algorithm}; c=relaxed/simple; d={signer.domain}; "
                 f"s={signer.selector}; t={timestamp or int(time.time())};\r\n\t"
                 f"h={listed};\r\n\t"
                 f"bh={base64.b64encode(digest.digest()).decode()};\r\n\tb=").encode("ascii")
        signed = b"".join(present[name] for name in names) + \
            relaxed_header(b"DKIM-Signature", value)[:-2]
        b64 = base64.b64encode(signer._sign(signed))
        folded = b"\r\n\t".join(b64[i:i + 72] for i in range(0, len(b64), 72))
        return b"DKIM-Signature: " + value + folded + b"\r\n"


@functools.lru_cache(maxsize=16)
def _signed_names(present: frozenset[bytes]) -> tuple[tuple[bytes, ...], str]:
    """The names to sign, in order, and the h= tag's value (with the over-signed ones)."""
    names = tuple(name for name in (n.encode() for n in SIGNED) if name in present)
    return names, ":".join([*(n.decode() for n in names), *OVERSIGNED])


TXT_STRING = 255
"""The most characters one DNS character-string holds (RFC 1035 3.3): a longer TXT value
(an RSA-2048 key's record is about 410) is published as several, which DKIM joins."""


def txt_strings(value: str) -> str:
    """`value` as a zone file writes TXT data: quoted strings of at most 255 characters each,
    separated by spaces (`"v=DKIM1; k=rsa; p=MIIB..." "...AQAB"`)."""
    pieces = [value[i:i + TXT_STRING] for i in range(0, len(value), TXT_STRING)] or [""]
    return " ".join('"' + piece.replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for piece in pieces)


def load(key_file: Path, domain: str, selector: str, where: str) -> DkimSigner:
    """The signer for `key_file` (PEM, unencrypted, RSA of 1024 bits or more, or Ed25519);
    `where` names the setting in messages."""
    if not _SELECTOR.match(selector):
        raise SettingsError(f"{where}.selector: {selector!r} is not a DNS label; expected "
                            "e.g. selector = \"news2026\"")
    try:
        pem = key_file.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{where}.key_file: cannot read {key_file} "
                            f"({exc.strerror or exc}); give the path of the PEM private key") \
            from None
    try:
        return DkimSigner(domain, selector, pem)
    except ValueError as exc:
        raise SettingsError(f"{where}.key_file: {key_file}: {exc}") from None


def _load_key(pem: bytes) -> RSAPrivateKey | Ed25519PrivateKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        raise ValueError("the key is encrypted; DKIM keys must be stored without a "
                         "passphrase (keep the file readable by the sender only)") from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("not a PEM private key (expected -----BEGIN PRIVATE KEY----- "
                         "or -----BEGIN RSA PRIVATE KEY-----)") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 1024:
            raise ValueError(f"an RSA key of {key.key_size} bits is too short; receivers "
                             "ignore DKIM keys under 1024 bits (use 2048)")
        return key
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    raise ValueError(f"a {type(key).__name__} key cannot sign DKIM; use RSA (2048 bits) or "
                     "Ed25519")


def dkim_signer(workspace: Workspace, slug: str) -> DkimSigner | None:
    """Newsletter `slug`'s DKIM signer, its key read from the file bulletin.toml names."""
    newsletter = workspace.newsletter(slug)
    settings = newsletter.dkim
    if settings is None:
        return None
    key_file = settings.key_file.expanduser()
    if not key_file.is_absolute():
        key_file = workspace.root / key_file
    domain = settings.domain or sender_domain(newsletter)
    where = f"{workspace.where(('newsletters', slug, 'dkim', 'key_file'))}: newsletters.{slug}.dkim"
    return load(key_file, domain, settings.selector, where)
