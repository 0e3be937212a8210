"""bulletin.toml: the workspace's newsletters, senders, brand and web address.

Secrets never live here: they come only from the environment."""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, ValidationError

from .errors import SettingsError
from .fields import (
    GRACE_MAX_MINUTES,
    BaseUrl,
    Colour,
    Language,
    Prose,
    RatePerSecond,
    Strict,
    TimeZone,
    Url,
    prose_fields,
)
from .headerfields import Address, HeaderProse, HeaderText
from .languages import LanguageOptions
from .mediasettings import Logo, MediaSettings
from .textchars import text_problems
from .textfile import read_text
from .tomlsource import toml_with_lines
from .validation import describe
from .yamlsource import Loc, dotted

FILENAME = "bulletin.toml"


def _bundled_templates() -> Path:
    folder = files("bulletin.templates")
    if not isinstance(folder, Path):  # a zip import; Jinja and Babel need real files
        raise SettingsError(f"bulletin's templates are not files on disk ({folder}); install "
                            f"bulletin with pip into a folder, not as a zip")
    return folder


BUNDLED_TEMPLATES = _bundled_templates()
"""The themes and web pages that come with bulletin (package data, bulletin.templates), used
where a workspace has none."""


class Colours(Strict):
    banner: Colour = "#1d1d1b"
    banner_text: Colour = "#ffffff"
    background: Colour = "#ffffff"
    text: Colour = "#1d1d1b"
    heading: Colour = "#1d1d1b"
    link: Colour = "#0b5394"
    accent: Colour = "#c8102e"
    box: Colour = "#eeeeee"
    footer_text: Colour = "#505050"


class Brand(Strict):
    banner: Prose = "News & alerts"
    logo: Logo | None = None
    colours: Colours = Colours()


class SocialLink(Strict):
    label: Prose
    text: Prose
    url: Url


class About(Strict):
    heading: Prose = "About"
    body: Prose


class Footer(Strict):
    privacy: Url | None = None
    cookies: Url | None = None
    help: Url | None = None


class Dkim(Strict):
    """DKIM signing: the private key's file (PEM, RSA 2048 bits or Ed25519; relative to
    bulletin.toml's folder), the selector its public key is published under, and the domain
    (default: the from address's)."""

    selector: str = Field(min_length=1, max_length=63)
    key_file: Path
    domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")


class Bounces(Strict):
    """What is done with what comes back ([newsletters.X.bounces]): a hard bounce or a
    complaint suppresses at once; `soft_limit` soft bounces (of different messages) within
    `soft_days` days, or a soft bounce of each of the last `soft_consecutive` issues sent to
    them (0: off), count as a hard bounce. `bulletin status` warns when an issue's
    complaints reach `complaint_warning` of the messages sent, or its bounces `bounce_warning`."""

    soft_limit: int = Field(default=3, ge=1, le=100)
    soft_days: int = Field(default=30, ge=1, le=3650)
    soft_consecutive: int = Field(default=3, ge=0, le=100)
    complaint_warning: float = Field(default=0.001, gt=0, le=1)
    bounce_warning: float = Field(default=0.02, gt=0, le=1)


class Newsletter(LanguageOptions):
    name: HeaderProse  # in From and List-Id
    organisation: Prose
    sender: Address = Field(alias="from")
    reply_to: Address | None = None
    mailing_list: str = Field(alias="list", pattern=r"^[a-z0-9][a-z0-9-]*$")
    languages: list[Annotated[Language, Field(pattern=r"^[a-z]{2,3}$")]] = Field(
        default=["en"], min_length=1)
    postal_address: Prose
    # A multilingual newsletter: each subscriber gets their language ("each"), or everyone
    # gets one email with every language, one after the other ("bilingual", in the order of
    # `languages`) or side by side on wide screens ("side-by-side").
    delivery: Literal["each", "bilingual", "side-by-side"] = "each"
    theme: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$")
    brand: Brand = Brand()
    about: About | None = None
    social: tuple[SocialLink, ...] = ()
    footer: Footer = Footer()
    unsubscribe_mailto: Address | None = None
    feedback_id: HeaderText | None = None
    dkim: Dkim | None = None
    verp: bool = False
    """Each message's envelope sender is LOCAL+TOKEN@domain (TOKEN names its ledger row), so
    that a bounce names what bounced; off for relays that forbid it."""
    bounces: Bounces = Bounces()
    approvals: int = Field(default=0, ge=0, le=20)  # sign-offs a send needs (bulletin.approval)
    timezone: TimeZone = "Europe/London"  # of `bulletin schedule --at` without --timezone
    schedule_grace: int = Field(default=30, ge=0, le=GRACE_MAX_MINUTES)  # minutes late


class Smtp(Strict):
    """How mail leaves: an SMTP relay. The password comes only from BULLETIN_SMTP_PASSWORD."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    allow_plaintext: bool = False
    """Send without TLS to a host that is not this machine (a relay on a trusted network)."""
    timeout: float = Field(default=60.0, gt=0)
    connections: int = Field(default=4, ge=1, le=200)
    window: int | None = Field(default=None, ge=1, le=100_000)
    """Messages claimed and not yet recorded, at most: the most a crash can leave uncertain
    (default: 16 a connection)."""
    rate_per_second: RatePerSecond | None = None
    rate_per_hour: int | None = Field(default=None, ge=1)
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_delays: tuple[float, ...] = Field(default=(10.0, 60.0, 300.0, 900.0), max_length=20)
    """Seconds to wait before each new pass over messages that failed for now (4xx)."""
    max_consecutive_failures: int = Field(default=100, ge=1)
    """Stop the send after this many failures in a row (a broken relay, a blocked sender)."""
    max_outage: float = Field(default=300.0, gt=0)
    """Seconds the relay may be unreachable (connections refused or failing) in the middle of
    a send before it stops; meanwhile it reconnects with backoff, and those attempts are not
    anyone's failures."""
    envelope_from: Address | None = None
    """The envelope sender (where bounces go); default: the newsletter's from address."""
    helo_name: str | None = None
    ca_file: Path | None = None

    @classmethod
    def defaults(cls) -> Smtp:
        """Every setting at its default, and no host: the one place the defaults are, for
        what writing .eml files to a folder, with no [smtp] table, needs."""
        return cls.model_construct(host="")


class Inbound(Strict):
    """The mailbox bounces, complaints and emailed unsubscribes arrive in, read over IMAP
    (`bulletin bounces fetch`; `bulletin serve` every `poll_minutes`). Always over TLS; the
    password comes only from BULLETIN_IMAP_PASSWORD. Folder names take "/" between levels
    (the server's own separator is used)."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    """Default: 993 with security "tls", 143 with "starttls"."""
    security: Literal["tls", "starttls"] = "tls"
    username: str = Field(min_length=1)
    folder: str = Field(default="INBOX", min_length=1)
    processed_folder: str = Field(default="bulletin/processed", min_length=1)
    """Where processed messages are moved (made if missing); other mail is left where it is."""
    poll_minutes: float = Field(default=5.0, ge=0.1, le=1440)
    ca_file: Path | None = None
    """CA certificates to trust (PEM, relative to bulletin.toml's folder) instead of the
    system's, for a server with a private certificate."""
    timeout: float = Field(default=60.0, gt=0)


SNS_TOPIC = r"^arn:aws(-cn|-us-gov)?:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"


class Webhooks(Strict):
    """[webhooks]: SES notifications from the SNS topics `ses_topics` (POST /webhooks/ses)
    and, with `events = true`, POST /webhooks/events (its secret: BULLETIN_WEBHOOK_SECRET)."""

    ses_topics: tuple[Annotated[str, Field(pattern=SNS_TOPIC)], ...] = ()
    events: bool = False


def _secure(url: str) -> str:
    if not url.startswith("https://") and "://127.0.0.1" not in url and "://localhost" not in url:
        raise ValueError("must start with https:// (links in email must be secure)")
    return url


class Settings(Strict):
    base_url: Annotated[BaseUrl, AfterValidator(_secure)]  # a field's: its line is named
    smtp: Smtp | None = None
    inbound: Inbound | None = None
    webhooks: Webhooks = Webhooks()
    newsletters: dict[str, Newsletter] = Field(min_length=1)
    database_url: str | None = None
    media: MediaSettings = MediaSettings()


class Workspace:
    """A folder with a bulletin.toml; themes are looked up under its templates/."""

    def __init__(self, root: Path, settings: Settings,
                 lines: dict[Loc, int] | Callable[[], dict[Loc, int]] | None = None,
                 config_path: Path | None = None) -> None:
        self.root = root
        self.settings = settings
        self._lines = lines or {}
        self._config_path = config_path

    @property
    def lines(self) -> dict[Loc, int]:
        """The line of each key and table in bulletin.toml, for findings about settings
        (found when first asked for, if given as a function)."""
        if callable(self._lines):
            self._lines = self._lines()
        return self._lines

    @property
    def config_path(self) -> Path:
        return self._config_path or self.root / FILENAME

    def where(self, loc: Loc) -> str:
        """`bulletin.toml:LINE` of `loc`, or of the nearest table around it in the file."""
        for end in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:end]))
            if line is not None:
                return f"{self.config_path}:{line}"
        return f"{self.config_path}:1"

    def newsletter(self, slug: str) -> Newsletter:
        try:
            return self.settings.newsletters[slug]
        except KeyError:
            known = ", ".join(sorted(self.settings.newsletters))
            raise SettingsError(f"unknown newsletter '{slug}'; {self.config_path} defines: "
                                f"{known}") from None

    def theme_dir(self, newsletter: Newsletter) -> Path:
        """The folder of the newsletter's theme: the workspace's templates/THEME, else the
        bundled one."""
        theme = newsletter.theme
        for base in (self.root / "templates", BUNDLED_TEMPLATES):
            if (base / theme).is_dir():
                return base / theme
        slug = next((slug for slug, known in self.settings.newsletters.items()
                     if known is newsletter), None)
        where = f"{self.where(('newsletters', slug, 'theme'))}: " if slug else ""
        field = f"newsletters.{slug}.theme: " if slug else ""
        raise SettingsError(f"{where}{field}theme '{theme}' not found: expected a folder "
                            f"{self.root / 'templates' / theme}")


def find_config(start: Path | None = None) -> Path:
    """BULLETIN_CONFIG, else the nearest bulletin.toml above `start`, else above the current
    directory."""
    explicit = os.environ.get("BULLETIN_CONFIG")
    if explicit:
        return Path(explicit)
    places = []
    if start is not None:
        places.append(start.resolve())
    places.append(Path.cwd().resolve())
    for place in places:
        for folder in (place, *place.parents):
            if (folder / FILENAME).is_file():
                return folder / FILENAME
    raise SettingsError(f"no {FILENAME} found in {places[-1]} or any folder above it; "
                        f"create one (see README) or set BULLETIN_CONFIG")


class _Lines:
    """The lines of a TOML text's keys and tables, found once, when first asked for: only a
    mistake or a finding names a line. A class, not a closure, so that a Workspace pickles
    (the sender gets its rendered issue from a child process)."""

    def __init__(self, text: str, config: Path) -> None:
        self._text = text
        self._config = config
        self._lines: dict[Loc, int] | None = None

    def __call__(self) -> dict[Loc, int]:
        if self._lines is None:
            try:
                self._lines = toml_with_lines(self._text, self._config)[1]
            except SettingsError:  # TOML that only tomllib reads: no lines, so line 1
                self._lines = {}
        return self._lines


def load_workspace(config: Path) -> Workspace:
    """bulletin.toml's workspace. The file is read with tomllib (fast); tomlkit reads it
    again, for the lines of its keys (toml_with_lines), only when a message needs one, and for
    the message about TOML that tomllib refuses."""
    import tomllib

    text = read_text(config, SettingsError)
    lines = _Lines(text, config)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raw = toml_with_lines(text, config)[0]  # says what is wrong, and where

    def where(loc: Loc) -> str:
        for end in range(len(loc), -1, -1):
            line = lines().get(tuple(loc[:end]))
            if line is not None:
                return f"{config}:{line}"
        return f"{config}:1"

    unwritable = [f"{where(loc)}: {dotted(loc)}: {problem}"
                  for loc, problem in text_problems(raw)]
    if unwritable:
        raise SettingsError("\n".join(unwritable))
    unknown = [key for key in raw if key not in Settings.model_fields]
    for key in unknown:
        if isinstance(raw[key], dict):
            # One mistake, not the table's unknown key and then every key it should have.
            close = difflib.get_close_matches(key, list(Settings.model_fields), n=1)
            hint = f"; did you mean [{close[0]}...]?" if close else ""
            tables = ", ".join(k for k in Settings.model_fields if k != "base_url")
            raise SettingsError(f"{where((key,))}: unknown table '{key}'{hint} (expected "
                                f"keys: base_url and the tables {tables})")
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        messages = describe(exc, Settings, where, raw)
        raise SettingsError("\n".join(messages)) from None
    for slug, newsletter in settings.newsletters.items():
        for loc, value in prose_fields(newsletter):
            missing = [lang for lang in newsletter.languages if lang not in value]
            if missing:
                field = dotted(("newsletters", slug, *loc))
                raise SettingsError(f"{where(('newsletters', slug, *loc))}: {field}: no "
                                    f"'{missing[0]}' text; newsletter '{slug}' has languages "
                                    f"{', '.join(newsletter.languages)}")
    return Workspace(config.parent.resolve(), settings, lines, config)
