"""`bulletin serve`: the subscriber web service behind the links in every email.

    BASE/unsubscribe/TOKEN      GET: a page with one button; POST List-Unsubscribe=One-Click:
                                unsubscribed at once (RFC 8058); POST from the page's button
    BASE/preferences/TOKEN      lists and topics, language, pause, leave, come back
    BASE/subscribe/NEWSLETTER   a form; double opt-in (and POST BASE/api/subscribe/NEWSLETTER)
    BASE/confirm/TOKEN          the link in the confirmation email: a page with one button
    BASE/archive/NEWSLETTER     past issues; BASE/archive/NEWSLETTER/ISSUE an issue as sent
    BASE/health                 whether the service and its database answer

Unsubscribing (one click, or the button) unsubscribes the person from everything: a token
names only the subscriber, and "unsubscribe" must never leave someone still getting email.
The preferences page is where one chooses lists. Every change goes to the store's audit trail
with its source: one-click, page, api or confirm-link.

Bad input of any kind gets a page (or, under /api, JSON) that says what to do: never a
traceback. Pages set no cookies; forms carry a CSRF field bound to the page (csrf.py).

The package: app.py makes the app; dependencies.py holds the state the routes share;
errors.py answers what goes wrong; routes/ has one router per group above; views.py types
what each page shows; the other modules do one job each for the routes (pages, forms, CSRF,
preferences, confirmations, the one-click journal, issue dates)."""

from .app import create_app

__all__ = ["create_app"]
