"""The optional packages an export format needs (the ``cnnlab[export]`` extra)."""

from __future__ import annotations

import importlib

from cnnlab.errors import CnnlabError

INSTALL_HINT = "pip install 'cnnlab[export]'"


class MissingExtra(CnnlabError):
    """An optional dependency of cnnlab export is not installed."""


def require(module: str, purpose: str):
    """Import ``module`` or raise one line naming what it is for and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(f"{purpose} needs the Python package {module.split('.')[0]!r}; "
                           f"install the export extra: {INSTALL_HINT}") from None  # fmt: skip
