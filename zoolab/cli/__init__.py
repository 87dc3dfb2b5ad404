"""The ``zoolab`` command line (Typer). See :mod:`zoolab.cli.main`."""
