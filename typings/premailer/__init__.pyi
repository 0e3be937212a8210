# Type information for premailer 3.10, which ships none (and PyPI has no stubs package for
# it): its public API and the method bulletin.render overrides, for HTML given as text (premailer
# also takes an lxml tree, which bulletin never gives it). mypy finds this folder through
# `mypy_path` in pyproject.toml.

from collections.abc import Sequence
from logging import Handler
from typing import Any, ClassVar, TypeAlias

__version__: str

# (specificity, selector, declarations), e.g. ((0, 0, 1, 0, 0, 0), ".blue", "color:blue");
# the specificity is (important, ids, classes, elements, ruleset index, rule index)
_StyleRule: TypeAlias = tuple[tuple[int, ...], str, str]

class PremailerError(Exception): ...

class Premailer:
    attribute_name: ClassVar[str]
    html: str | None
    base_url: str | None
    keep_style_tags: bool
    strip_important: bool
    exclude_pseudoclasses: bool
    include_star_selectors: bool
    disable_validation: bool
    method: str
    def __init__(
        self,
        html: str | None = None,
        base_url: str | None = None,
        disable_link_rewrites: bool = False,
        preserve_internal_links: bool = False,
        preserve_inline_attachments: bool = True,
        preserve_handlebar_syntax: bool = False,
        exclude_pseudoclasses: bool = True,
        keep_style_tags: bool = False,
        include_star_selectors: bool = False,
        remove_classes: bool = False,
        capitalize_float_margin: bool = False,
        strip_important: bool = True,
        external_styles: str | Sequence[str] | None = None,
        css_text: str | Sequence[str] | None = None,
        method: str = "html",
        base_path: str | None = None,
        disable_basic_attributes: Sequence[str] | None = None,
        disable_validation: bool = False,
        cache_css_parsing: bool = True,
        cssutils_logging_handler: Handler | None = None,
        cssutils_logging_level: int | str | None = None,
        disable_leftover_css: bool = False,
        align_floating_images: bool = True,
        remove_unset_properties: bool = True,
        allow_network: bool = True,
        allow_insecure_ssl: bool = False,
        allow_loading_external_files: bool = False,
        session: Any = None,
    ) -> None: ...
    def transform(self, html: str | None = None, pretty_print: bool = True,
                  **kwargs: Any) -> str: ...
    # The rules to inline, and those left over (cssutils media rules, pseudo-class rules).
    def _parse_style_rules(self, css_body: str,
                           ruleset_index: int) -> tuple[list[_StyleRule], list[object]]: ...

def transform(html: str, pretty_print: bool = False, **kwargs: Any) -> str: ...
