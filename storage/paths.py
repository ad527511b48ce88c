"""Paths and URLs of stores: local directories or fsspec URLs (``s3://bucket/cube.zarr``)."""
from __future__ import annotations

from typing import Any

__all__ = ["filesystem", "join", "is_local"]


def filesystem(path: str, storage_options: dict[str, Any] | None = None):
    """(fsspec filesystem, root path inside it) for a store path or URL."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(str(path), **(storage_options or {}))
    return fs, root.rstrip("/")


def join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def is_local(path: str) -> bool:
    return "://" not in str(path) or str(path).startswith("file://")
