"""Jinja's compiled templates kept in the user's cache folder (usercache.py), so that a
command does not compile the theme again: apart from usercache so that what imports that
(the images, and so the sender publishing them) does not import Jinja."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import jinja2

from .usercache import folder


class TemplateCache(jinja2.FileSystemBytecodeCache):
    """Jinja's bytecode cache (it compiles again a template whose source changed), kept
    apart for each set of options that changes the compiled code, silent when it cannot
    write."""

    def __init__(self, directory: Path, env: jinja2.Environment, *more: str) -> None:
        compiled_by = (env.block_start_string, env.block_end_string, env.variable_start_string,
                       env.variable_end_string, env.comment_start_string,
                       env.comment_end_string, env.line_statement_prefix,
                       env.line_comment_prefix, env.trim_blocks, env.lstrip_blocks,
                       env.newline_sequence, env.keep_trailing_newline, env.optimized,
                       sorted(env.extensions), jinja2.__version__, *more)
        tag = hashlib.sha256(repr(compiled_by).encode()).hexdigest()[:16]
        super().__init__(str(directory), f"__bulletin_{tag}_%s.cache")

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):  # kept next time, or compiled again
            super().dump_bytecode(bucket)


def template_cache(env: jinja2.Environment, *more: str) -> TemplateCache | None:
    """A bytecode cache for `env` (and `more` that changes what it compiles), or None
    without a folder."""
    directory = folder("templates")
    return None if directory is None else TemplateCache(directory, env, *more)
