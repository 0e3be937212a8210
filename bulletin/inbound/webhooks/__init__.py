"""What mail providers report by webhook instead of by email: Amazon SES notifications
through SNS (sns.py: the envelope and its signature; ses.py: the bounces and complaints in
it) and bulletin's own generic JSON events, authenticated by HMAC (events.py). Each turns a
request's body into events (model.py), already classified, that
`bulletin.inbound.process.process_classified` attributes, decides and records once. No HTTP
here: the web service's routes (bulletin.web.service.routes.webhooks) call these."""
