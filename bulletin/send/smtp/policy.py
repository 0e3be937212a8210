"""The SMTP client's TLS policy, in one place: when TLS is required (to any host but this
machine, unless the settings say otherwise), the refusals that keep mail and the password out
of plain text where it is, the SSL context (the system's CAs, or smtp.ca_file's), and what a
failed handshake is told as. The password itself never appears in a message."""

from __future__ import annotations

import ipaddress
import ssl

from ...errors import SendError
from .settings import SmtpSettings


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1. Other names are
    not resolved: a name that happens to point here does not count."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def tls_required(settings: SmtpSettings) -> bool:
    """require_tls when it is set; else TLS is required to any host but this machine."""
    return settings.require_tls if settings.require_tls is not None \
        else not is_loopback(settings.host)


def _password_refused(settings: SmtpSettings) -> SendError:
    return SendError(f"refusing to send the SMTP password to {settings.where} unencrypted: "
                     "set smtp.security = \"starttls\" or \"tls\"")


def check_tls_policy(settings: SmtpSettings) -> None:
    """Raises SendError, before any traffic, when the settings would send mail, or the
    password, in plain text to a host that needs TLS."""
    if settings.security == "none" and settings.username is not None \
            and not is_loopback(settings.host):
        raise _password_refused(settings)
    if settings.security == "none" and tls_required(settings):
        if settings.require_tls:
            raise SendError(f"smtp.security is \"none\" but smtp.require_tls is true for "
                            f"{settings.where}: set smtp.security = \"starttls\" or \"tls\"")
        raise SendError(
            f"refusing to send mail to {settings.where} without TLS: set smtp.security = "
            "\"starttls\" (port 587) or \"tls\" (port 465), or, if that server is on a trusted "
            "network, set smtp.allow_plaintext = true in bulletin.toml")


def check_login(settings: SmtpSettings, encrypted: bool) -> None:
    """Raises SendError before AUTH on a plain-text connection to another machine (a server
    that offered no STARTTLS, with TLS not required)."""
    if not encrypted and not is_loopback(settings.host):
        raise _password_refused(settings)


def check_no_starttls(settings: SmtpSettings) -> None:
    """The server offers no STARTTLS: raises SendError if TLS is required; else the
    conversation goes on in plain text."""
    if tls_required(settings):
        raise SendError(f"the SMTP server {settings.where} does not offer STARTTLS: if it "
                        "takes TLS from the start, set smtp.security = \"tls\"")


def ssl_context(settings: SmtpSettings) -> ssl.SSLContext:
    """A context that verifies the server's certificate and name: against the system's CAs,
    or those in smtp.ca_file."""
    try:
        return ssl.create_default_context(cafile=settings.ca_file)
    except (OSError, ssl.SSLError) as error:
        raise SendError(f"cannot read smtp.ca_file {settings.ca_file}: {error}") from error


def tls_failure(settings: SmtpSettings, error: ssl.SSLError) -> SendError:
    """What a failed TLS handshake means, and what to do about it."""
    where = settings.where
    if isinstance(error, ssl.SSLCertVerificationError):
        return SendError(f"the TLS certificate of {where} is not trusted: "
                         f"{error.verify_message}; if it is a private CA, set smtp.ca_file")
    hint = ("does the server take TLS from the start? (port 465: security \"tls\"; "
            "port 587: \"starttls\")")
    return SendError(f"the TLS handshake with {where} failed ({error.reason}): {hint}")
