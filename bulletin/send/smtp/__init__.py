"""The SMTP client, in six rooms: `wire` (replies, commands and dot-stuffing as pure
functions), `settings` (what the client is told, checked once), `policy` (when TLS is
required, and the refusals that keep mail and the password out of plain text), `stream`
(what the event loop reports of one connection: replies handed to the commands waiting for
them, in order, and their time limits), `connection` (one connection: open, write, read) and
`client` (`SmtpTransport`: messages taking turns on a connection, pipelined, and what trouble
makes of each). The password is sent only
inside AUTH, never logged, and never put in an error message.

The names other modules and the tests use are offered here.
"""

from .client import SmtpTransport
from .connection import SmtpStats
from .policy import check_tls_policy, is_loopback
from .settings import SECURITIES, Security, SmtpSettings
from .wire import (
    Reply,
    ReplyParser,
    dot_stuff,
    dot_unstuff,
    parse_extensions,
    parse_reply,
    parse_reply_line,
)

__all__ = ["SECURITIES", "Reply", "ReplyParser", "Security", "SmtpSettings", "SmtpStats",
           "SmtpTransport", "check_tls_policy", "dot_stuff", "dot_unstuff", "is_loopback",
           "parse_extensions", "parse_reply", "parse_reply_line"]
