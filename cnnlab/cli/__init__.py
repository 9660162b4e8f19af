"""The ``cnnlab`` command line. Each stage's commands are a module of this package
that registers them on the group; adding a command module is one file plus one
import line below."""

from cnnlab.cli.app import cli, main

# Imported for their side effect: each module registers its commands on ``cli``.
from cnnlab.cli import data, explain, export, inspect, model, practice, report, shift, train  # noqa: E402,F401

__all__ = ["cli", "main"]
