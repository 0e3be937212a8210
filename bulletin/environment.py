"""The names of the environment variables that more than one part of bulletin reads, in a
module that imports nothing, so that the CLI can name them in its help without loading the
part that reads them (the store's SQLAlchemy, the SMTP client)."""

DATABASE_URL = "BULLETIN_DATABASE_URL"
"""The subscriber database's URL; before bulletin.toml's database_url."""

SMTP_PASSWORD = "BULLETIN_SMTP_PASSWORD"
"""The SMTP relay's password, for smtp.username in bulletin.toml."""

IMAP_PASSWORD = "BULLETIN_IMAP_PASSWORD"
"""The bounce mailbox's password, for inbound.username in bulletin.toml."""

WEBHOOK_SECRET = "BULLETIN_WEBHOOK_SECRET"
"""The shared secret of `bulletin serve`'s generic webhook (POST /webhooks/events), for
HMAC-SHA256 over each request; [webhooks] events = true in bulletin.toml turns it on."""

APPROVER = "BULLETIN_APPROVER"
"""Who approves, schedules or sends, when --as does not say (else the git user): the name
`bulletin approve` records and `bulletin send` must not count among the approvals."""
