"""Report command: one self-contained HTML (or Markdown) report of a campaign's progress."""

from __future__ import annotations

from pathlib import Path

import click

from drxlab.cli.main import Context, cli, pass_ctx
from drxlab.cli.render import echo_json


@cli.command()
@click.option("--campaign", "name", required=True, help="Campaign name (its latest revision's objectives).")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    default=None,
    help="Report file [default: <campaign>-report.html or .md].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md"]),
    default=None,
    help="html: one file, figures embedded; md: figures as PNG files in <out>_files/ "
    "[default: from --out's suffix, else html].",
)
@click.option(
    "--map-axes",
    nargs=2,
    default=None,
    metavar="X Y",
    help="Elements on the composition map's axes, amounts per formula unit [default: Li F].",
)
@click.option("--json", "as_json", is_flag=True, help="Also print the report's numbers as JSON.")
@pass_ctx
def report(
    obj: Context, name: str, out: str | None, fmt: str | None, map_axes: tuple[str, str] | None, as_json: bool
) -> None:
    """Write a campaign report: best-so-far by round, prospective parity, σ calibration, measured vs
    predicted curves, composition map, suggestion / lineage / inventory tables.

    Reads the store only; writes nothing but the report file(s).
    """
    from drxlab.report.data import collect
    from drxlab.report.render import write_report

    fmt = fmt or ("md" if out and Path(out).suffix.lower() == ".md" else "html")
    with obj.store(create=False).reader() as s:
        data = collect(s, name, map_axes=tuple(map_axes) if map_axes else None)
    path = Path(out or f"{data.campaign}-report.{fmt}")
    written = write_report(data, path, fmt)
    if as_json:
        echo_json(data.numbers())
    click.echo(
        f"report written to {written[0]}"
        + (f" (+{len(written) - 1} figures in {written[1].parent})" if len(written) > 1 else ""),
        err=True,
    )
