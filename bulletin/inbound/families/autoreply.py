"""Automatic replies (RFC 3834 and the common non-standard forms): out-of-office, vacation
and "thank you for your message" responders. An auto-reply is never a bounce: it proves the
mailbox exists. Recognised by the standard Auto-Submitted: auto-replied, by the headers
responders add (X-Autoreply, X-Autorespond, Precedence: auto_reply, X-Auto-Response-Suppress
with an autoreply subject), and by the subjects mail clients write in many languages."""

from __future__ import annotations

import re

from bulletin.inbound.families.base import Finding, says_it_failed
from bulletin.inbound.message import Parsed, header

_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|fw|fwd|sv|vs|tr|rif)\s*:\s*)*\[?\s*(?:"
    r"out of (?:the )?office|automatic reply|auto(?:matic|mated)?[ -]?(?:reply|response|"
    r"antwort|answer|respuesta|resposta|risposta)|auto:|autoreply|autoresponse|"
    r"abwesenheitsnotiz|abwesend|automatische antwort|r[ée]ponse automatique|"
    r"absence|respuesta autom[áa]tica|fuera de (?:la )?oficina|resposta autom[áa]tica|"
    r"risposta automatica|fuori ufficio|automatisch antwoord|afwezig|"
    r"allan o'?r swyddfa|ateb awtomatig|automatyczna odpowied[źz]|"
    r"autosvar|automatisk svar|poissa|automaattinen vastaus|vacation|on vacation|"
    r"away from (?:the |my )?(?:office|desk)|i am (?:currently )?(?:out|away)|"
    r"ich bin (?:nicht|außer)|thank you for (?:your )?(?:e-?mail|message|contacting))",
    re.IGNORECASE)
_SUBJECT_ANYWHERE = re.compile(
    r"\((?:automatic|auto) (?:response|reply)\)|\bis out of the office\b|"
    r"\bout of office\b|\bautomatic reply\b|\bauto-?reply\b", re.IGNORECASE)


def detect(p: Parsed) -> Finding | None:
    msg = p.msg
    auto_submitted = header(msg, "Auto-Submitted").lower()
    precedence = (header(msg, "Precedence") + " " + header(msg, "X-Precedence")).lower()
    evidence = ""
    if auto_submitted.startswith("auto-replied"):
        evidence = "Auto-Submitted: auto-replied"
    elif header(msg, "X-Autoreply") or header(msg, "X-Autorespond") \
            or header(msg, "X-Autoresponder") or header(msg, "X-Auto-Reply"):
        evidence = "X-Autoreply"
    elif "auto_reply" in precedence or "auto-reply" in precedence:
        evidence = "Precedence: auto_reply"
    elif header(msg, "X-Vacation") or header(msg, "X-Mailer").lower().startswith("vacation"):
        evidence = "X-Vacation"
    elif _SUBJECT.search(p.subject) or _SUBJECT_ANYWHERE.search(p.subject):
        evidence = f"subject: {p.subject[:80]}"
    elif "autoreply" in header(msg, "X-Auto-Response-Suppress").lower() and \
            auto_submitted.startswith("auto-generated"):
        evidence = "X-Auto-Response-Suppress"
    if not evidence:
        return None
    if evidence.startswith("Auto-Submitted") and says_it_failed(p) and not (
            _SUBJECT.search(p.subject) or _SUBJECT_ANYWHERE.search(p.subject)):
        return None  # Exim marks its bounces "Auto-Submitted: auto-replied" too
    return Finding(family="autoreply-rfc3834", kind="auto-reply", diagnostic=evidence)
