"""The ``xaidesk batch --executor dask`` command line of a cluster run (the Dataset tab shows it)."""

from __future__ import annotations

import shlex
from typing import Sequence

from .execute import DEFAULT_BATCH_SIZE
from .format import MethodRequest


def cluster_command(source, out, model: str, methods: Sequence, *, address: str | None = None,
                    workers: int | None = None, shards: int | None = None, device: str = "cpu",
                    batch_size: int = DEFAULT_BATCH_SIZE, target: int | None = None, labels=None,
                    trust: bool = False) -> str:
    """The ``xaidesk batch --executor dask`` command line that runs the same as :func:`run_on_cluster`.

    ``methods`` holds names, ``(name, params)`` pairs or :class:`MethodRequest` items; each given
    parameter becomes ``--param METHOD:NAME=VALUE``. Paths are written as given (quoted for a POSIX shell).
    """
    words = ["xaidesk", "batch", str(source), "--model", str(model)]
    names, params = [], []
    for item in methods:
        name, values = ((item.name, item.params) if isinstance(item, MethodRequest)
                        else (item, {}) if isinstance(item, str) else (item[0], dict(item[1] or {})))
        names.append(name)
        for key, value in values.items():
            params += ["--param", f"{name}:{key}={str(value).lower() if isinstance(value, bool) else value}"]
    words += ["--methods", ",".join(names), *params] + (["--trust"] if trust else [])
    batch = int(batch_size) if int(batch_size) != DEFAULT_BATCH_SIZE else None
    options = [("--labels", labels), ("--device", None if device == "cpu" else device), ("--batch-size", batch),
               ("--target", target), ("--executor", "dask"), ("--address", address), ("--workers", workers),
               ("--shards", shards), ("--out", out)]
    words += [word for flag, value in options if value is not None for word in (flag, str(value))]
    return shlex.join(words)


__all__ = ["cluster_command"]
