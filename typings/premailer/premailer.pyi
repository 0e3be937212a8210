# premailer's modules that hold csstext_to_pairs, which bulletin.render replaces with a reader
# giving the same answers (bulletin.cssdeclarations) where it can; see __init__.pyi.

from collections.abc import Callable

csstext_to_pairs: Callable[..., list[tuple[str, str]]]
