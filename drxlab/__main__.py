"""``python -m drxlab`` runs the command line, like the ``drxlab`` script."""

from drxlab.cli.main import cli

if __name__ == "__main__":
    cli(prog_name="drxlab")
