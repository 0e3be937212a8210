"""For the webhook tests: an RSA key with a self-signed certificate standing in for SNS's
signing certificate, SNS envelopes signed with it (the fields of AWS's documented examples),
the SES notifications of AWS's documentation (Amazon SES Developer Guide, "Amazon SNS
notification examples for Amazon SES"; the addresses and the original Message-ID changed to
the test's own), and the generic endpoint's signature."""

from __future__ import annotations

import base64
import copy
import datetime
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bulletin.inbound.webhooks import sns

TOPIC = "arn:aws:sns:us-west-2:123456789012:MyTopic"
CERT_URL = ("https://sns.us-west-2.amazonaws.com/"
            "SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem")
SUBSCRIBE_URL = ("https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
                 "arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb687f5d51e6e2")


def make_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .sign(key, hashes.SHA256()))
    return key, certificate


KEY, CERTIFICATE = make_certificate()
OTHER_KEY, OTHER_CERTIFICATE = make_certificate()


def signed(fields: dict[str, str], key: rsa.RSAPrivateKey = KEY,
           version: str = "1") -> dict[str, str]:
    """`fields` with SignatureVersion, SigningCertURL (unless given) and Signature."""
    out = {"SignatureVersion": version, "SigningCertURL": CERT_URL, **fields}
    envelope = sns.parse(json.dumps({**out, "Signature": "AA=="}).encode())
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(sns.canonical(envelope), padding.PKCS1v15(), algorithm)
    return {**out, "Signature": base64.b64encode(signature).decode()}


def notification(message: str, *, message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                 topic: str = TOPIC, subject: str | None = "My First Message",
                 **options: Any) -> dict[str, str]:
    fields = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic,
              "Message": message, "Timestamp": "2012-05-02T00:54:06.655Z",
              "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&"
                                "SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:"
                                "c9135db0-26c4-47ec-8998-413945fb5a96"}
    if subject is not None:
        fields["Subject"] = subject
    return signed(fields, **options)


def subscription(kind: str = "SubscriptionConfirmation", url: str = SUBSCRIBE_URL,
                 **options: Any) -> dict[str, str]:
    return signed({
        "Type": kind, "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2", "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:"
                   "123456789012:MyTopic.\nTo confirm the subscription, visit the "
                   "SubscribeURL included in this message.",
        "SubscribeURL": url, "Timestamp": "2012-04-26T20:45:04.751Z"}, **options)


MAIL = {
    "timestamp": "2016-01-27T14:59:38.237Z",
    "source": "john@example.com",
    "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
    "sourceIp": "127.0.3.0",
    "sendingAccountId": "123456789012",
    "callerIdentity": "IAM_user_or_role_name",
    "messageId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
    "destination": ["jane@example.com", "mary@example.com", "richard@example.com"],
    "headersTruncated": False,
    "headers": [
        {"name": "From", "value": "\"John Doe\" <john@example.com>"},
        {"name": "To", "value": "\"Jane Doe\" <jane@example.com>, \"Mary Doe\" "
                                "<mary@example.com>, \"Richard Doe\" <richard@example.com>"},
        {"name": "Message-ID", "value": "custom-message-ID"},
        {"name": "Subject", "value": "Hello"},
        {"name": "Content-Type", "value": "text/plain; charset=\"UTF-8\""},
        {"name": "Content-Transfer-Encoding", "value": "base64"},
        {"name": "Date", "value": "Wed, 27 Jan 2016 14:05:45 +0000"},
    ],
    "commonHeaders": {
        "from": ["John Doe <john@example.com>"],
        "date": "Wed, 27 Jan 2016 14:05:45 +0000",
        "to": ["Jane Doe <jane@example.com>, Mary Doe <mary@example.com>, "
               "Richard Doe <richard@example.com>"],
        "messageId": "custom-message-ID",
        "subject": "Message sent using Amazon SES",
    },
}

BOUNCE = {
    "notificationType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "reportingMTA": "dns; email.example.com",
        "bouncedRecipients": [{"emailAddress": "jane@example.com", "status": "5.1.1",
                               "action": "failed",
                               "diagnosticCode": "smtp; 550 5.1.1 <jane@example.com>... User"}],
        "bounceSubType": "General",
        "timestamp": "2016-01-27T14:59:38.237Z",
        "feedbackId": "00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
        "remoteMtaIp": "127.0.2.0",
    },
    "mail": MAIL,
}

COMPLAINT = {
    "notificationType": "Complaint",
    "complaint": {
        "userAgent": "AnyCompany Feedback Loop (V0.01)",
        "complainedRecipients": [{"emailAddress": "richard@example.com"}],
        "complaintFeedbackType": "abuse",
        "arrivalDate": "2016-01-27T14:59:38.237Z",
        "timestamp": "2016-01-27T14:59:38.237Z",
        "feedbackId": "000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000",
    },
    "mail": MAIL,
}

DELIVERY = {
    "notificationType": "Delivery",
    "mail": MAIL,
    "delivery": {"timestamp": "2016-01-27T14:59:38.237Z", "recipients": ["jane@example.com"],
                 "processingTimeMillis": 546, "reportingMTA": "a8-70.smtp-out.amazonses.com",
                 "smtpResponse": "250 ok:  Message 64111812 accepted",
                 "remoteMtaIp": "127.0.2.0"},
}


def ses(note: dict[str, Any], *, recipients: list[str] | None = None,
        message_id: str | None = None, source: str | None = None) -> str:
    """`note` (an example above) as SNS's Message, about `recipients`, the original's
    Message-ID `message_id`, sent from `source`."""
    note = copy.deepcopy(note)
    mail = note["mail"]
    if message_id is not None:
        for header in mail["headers"]:
            if header["name"] == "Message-ID":
                header["value"] = message_id
        mail["commonHeaders"]["messageId"] = message_id
    if source is not None:
        mail["source"] = source
    if recipients is not None:
        mail["destination"] = recipients
        if "bounce" in note:
            template = note["bounce"]["bouncedRecipients"][0]
            note["bounce"]["bouncedRecipients"] = [
                {**template, "emailAddress": r,
                 "diagnosticCode": template["diagnosticCode"].replace("jane@example.com", r)}
                for r in recipients]
        if "complaint" in note:
            note["complaint"]["complainedRecipients"] = [{"emailAddress": r}
                                                         for r in recipients]
    return json.dumps(note)
