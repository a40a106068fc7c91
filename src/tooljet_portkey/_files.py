"""The package's own data files (operations.json, manifest.json, prices.json, the meta-schemas), read
through the package's loader as ``pkgutil.get_data`` does: from a directory or a zip alike, without
loading ``importlib.resources`` (and ``zipfile``) on the way to a query's first answer."""

from __future__ import annotations

import os
from typing import Any, cast

__all__ = ["package_text"]

_HERE = os.path.dirname(__file__)


def package_text(name: str) -> str:
    """The UTF-8 text of the package's file ``name`` (``metaschemas/operations.schema.json``)."""
    loader = cast(Any, __spec__.loader)  # a file or zip loader: both read any path beneath the package
    data: bytes = loader.get_data(os.path.join(_HERE, *name.split("/")))
    return data.decode("utf-8")
