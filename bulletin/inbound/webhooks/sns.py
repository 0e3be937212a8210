"""Amazon SNS messages posted to an HTTP endpoint: the envelope (SubscriptionConfirmation,
Notification, UnsubscribeConfirmation) and its signature, verified before anything in it is
believed.

    envelope = parse(body)                 # Malformed: not an SNS message
    verify(envelope, certificates)         # Unauthenticated: the signature is not SNS's

The signature (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA, PKCS#1 v1.5) covers the
canonical string AWS documents: "Name\\nValue\\n" for each of the type's fields in a fixed
order (Notification: Message, MessageId, Subject if present, Timestamp, TopicArn, Type; the
confirmations: Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type). The
certificate is named by the message itself, so its URL is checked before any fetch: https,
on sns.REGION.amazonaws.com (or .amazonaws.com.cn) exactly, no user, no port, a path ending
.pem; anything else is refused unfetched (`is_certificate_url`). `Certificates` fetches
with a timeout over verified TLS, follows no redirect, and keeps each certificate by URL.
A SubscriptionConfirmation's SubscribeURL is visited (to confirm) only under the same host
rules, with path "/" and Action=ConfirmSubscription (`is_subscribe_url`)."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .model import Malformed, Unauthenticated, Unavailable

TYPES: dict[str, tuple[str, ...]] = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
_HOST = re.compile(r"sns\.[a-z]{2}(-[a-z]+)+-\d\.amazonaws\.com(\.cn)?")
_PATH = re.compile(r"/[A-Za-z0-9._-]{1,200}\.pem")
TIMEOUT = 10.0
MAX_CERTIFICATE = 64 * 1024
CertificateLoader = Callable[[str], x509.Certificate]


@dataclass(frozen=True)
class Envelope:
    """One SNS message, as posted."""

    type: str
    message_id: str
    topic_arn: str
    message: str
    signature_version: str
    signature: str
    signing_cert_url: str
    fields: Mapping[str, str]
    """Every string field, for the canonical string."""

    @property
    def subscribe_url(self) -> str | None:
        return self.fields.get("SubscribeURL")


def parse(body: bytes) -> Envelope:
    """The SNS message in a request's body."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested too deeply, too
        raise Malformed("not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("not an SNS message")
    fields = {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}
    kind = fields.get("Type", "")
    if kind not in TYPES:
        raise Malformed("not an SNS message (Type)")
    missing = [f for f in TYPES[kind] if f != "Subject" and f not in fields]
    if missing:
        raise Malformed(f"SNS message without {missing[0]}")
    # Without a signature it is still SNS's shape: refused by verify() as unsigned (401).
    return Envelope(kind, fields["MessageId"], fields["TopicArn"], fields["Message"],
                    fields.get("SignatureVersion", ""), fields.get("Signature", ""),
                    fields.get("SigningCertURL", ""), fields)


def canonical(envelope: Envelope) -> bytes:
    """The string SNS signs: each of the type's fields present, "Name\\nValue\\n"."""
    return "".join(f"{name}\n{envelope.fields[name]}\n" for name in TYPES[envelope.type]
                   if name in envelope.fields).encode()


def _on_sns_host(url: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an https URL on an SNS host, with nothing else in its
    authority (no user, no port, no trailing dot), else None."""
    if not url.isascii() or any(c in url for c in "\\ \t\r\n%@") or len(url) > 2048:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or parts.fragment or parts.netloc != parts.netloc.lower() \
            or not _HOST.fullmatch(parts.netloc):
        return None
    return parts.netloc, parts.path, parts.query


def is_certificate_url(url: str) -> bool:
    """Whether `url` may be fetched as an SNS signing certificate."""
    found = _on_sns_host(url)
    return found is not None and not found[2] and bool(_PATH.fullmatch(found[1]))


def is_subscribe_url(url: str) -> bool:
    """Whether `url` may be visited to confirm a subscription."""
    found = _on_sns_host(url)
    if found is None or found[1] not in ("", "/"):
        return False
    return parse_qs(found[2]).get("Action") == ["ConfirmSubscription"]


def verify(envelope: Envelope, certificates: CertificateLoader) -> None:
    """Raise Unauthenticated unless `envelope` carries SNS's signature (Unavailable when its
    certificate cannot be fetched now)."""
    algorithm: hashes.HashAlgorithm
    if envelope.signature_version == "1":
        algorithm = hashes.SHA1()  # SNS's SignatureVersion 1: SHA1withRSA
    elif envelope.signature_version == "2":
        algorithm = hashes.SHA256()
    else:
        raise Unauthenticated("unknown SignatureVersion")
    if not is_certificate_url(envelope.signing_cert_url):
        raise Unauthenticated("SigningCertURL is not an SNS address")
    if not envelope.signature:
        raise Unauthenticated("no Signature")
    try:
        signature = base64.b64decode(envelope.signature, validate=True)
    except (binascii.Error, ValueError):
        raise Unauthenticated("Signature is not base64") from None
    key = certificates(envelope.signing_cert_url).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unauthenticated("the signing certificate's key is not RSA")
    try:
        key.verify(signature, canonical(envelope), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise Unauthenticated("the signature does not verify") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, most: int) -> bytes:
    """GET `url` (https, TLS verified, no redirect followed, TIMEOUT), at most `most`
    bytes."""
    opener = urllib.request.build_opener(_NoRedirect())
    with opener.open(urllib.request.Request(url, method="GET"), timeout=TIMEOUT) as response:
        data: bytes = response.read(most + 1)
    if len(data) > most:
        raise ValueError("too large")
    return data


class Certificates:
    """The production certificate loader: checks the URL, fetches, keeps by URL."""

    def __init__(self, get: Callable[[str, int], bytes] = fetch, keep: int = 64) -> None:
        self._get = get
        self._keep = keep
        self._known: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> x509.Certificate:
        if not is_certificate_url(url):  # verify() checks first; checked again where fetched
            raise Unauthenticated("SigningCertURL is not an SNS address")
        with self._lock:
            known = self._known.get(url)
        if known is not None:
            return known
        try:
            certificate = x509.load_pem_x509_certificate(self._get(url, MAX_CERTIFICATE))
        except ValueError:
            raise Unauthenticated("the signing certificate is not a certificate") from None
        except OSError as exc:
            raise Unavailable("the signing certificate could not be fetched; try again "
                              "later") from exc
        with self._lock:
            if len(self._known) >= self._keep:
                self._known.pop(next(iter(self._known)))
            self._known[url] = certificate
        return certificate


def confirm(url: str, get: Callable[[str, int], bytes] = fetch) -> bool:
    """Visit a SubscriptionConfirmation's SubscribeURL, if it is SNS's: whether it was."""
    if not is_subscribe_url(url):
        return False
    try:
        get(url, MAX_CERTIFICATE)
    except (OSError, ValueError) as exc:
        raise Unavailable("the subscription could not be confirmed; try again later") \
            from exc
    return True
