"""How every command reports a TradeloomError: one red line on stderr, exit code 2.

Messages are escaped before printing: they quote things like
``pip install 'tradeloom[dask]'`` that rich markup would otherwise swallow as a
style tag. No traceback: the message names the file, field or setting and the fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from tradeloom.engine.errors import TradeloomError

EXIT_ERROR = 2


def report_error(exc: BaseException) -> None:
    """Print ``exc`` for a person: red, on stderr, markup-escaped, no traceback."""
    Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)


def fail(exc: BaseException) -> NoReturn:
    """Report ``exc`` and end the command with exit code 2."""
    report_error(exc)
    raise typer.Exit(EXIT_ERROR)


@contextmanager
def user_errors() -> Iterator[None]:
    """Inside a command: a TradeloomError becomes a red message and exit code 2."""
    try:
        yield
    except TradeloomError as exc:
        report_error(exc)
        raise typer.Exit(EXIT_ERROR) from None
