"""``tradeloom data load-sample``: put the bundled sample into the catalog."""

from __future__ import annotations

import typer
from rich.console import Console

from tradeloom.cli import context as clictx
from tradeloom.engine.errors import TradeloomError

console = Console()


def load_sample_command(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing on success."),
) -> None:
    """Load the bundled real exchange history (datasets/sample) into the catalog.

    Idempotent: bars already stored are skipped, so it is cheap to run again.

    Example:  tradeloom data load-sample
    """
    from tradeloom.app.sample import load_sample

    try:
        added = load_sample(clictx.open_store())
    except TradeloomError as exc:
        from tradeloom.cli.main import report_error

        report_error(exc)
        raise typer.Exit(2) from None
    if not quiet:
        total = sum(rows for _, rows in added)
        console.print(
            f"sample: {len(added)} datasets in {clictx.catalog_location()}, {total} new bars"
        )
