"""The IO manager: every asset's value on shared storage, a local folder or an object store.

``GAP_MONITOR_STORAGE`` names the place: empty (the default) is the Dagster instance's own
``storage/`` folder, as with Dagster's default IO manager; ``s3://bucket/prefix`` (or any
fsspec URL: ``gs://``, ``az://``, ``file://``) puts the values where every worker reads them,
so a step on another machine never looks for a file on a disk it does not have. Object-store
credentials and endpoint come from the usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL`` for an S3-compatible server).

Formats: a table (pandas or geopandas DataFrame, Arrow table) is stored as Parquet
(GeoParquet for a GeoDataFrame), readable by any Parquet reader; anything else (the dicts of
tables some assets return) as a pickle. Which one a stored value is comes from its first bytes
(``PAR1`` is Parquet), so paths keep Dagster's layout ``<base>/<asset>/<partition>``. Each value
is written whole and then renamed into place on a local folder, and put in one request on an
object store: a reader never sees half a value.

A run over several quarters at once (see :func:`dagster_project.partitions.spans_quarters`)
hands the IO manager one dict per output, keyed by quarter, and each quarter is stored at its
own path; its steps read their upstream quarters lazily, one at a time, through
:class:`QuarterValues`, so a step over eight quarters holds one quarter's tables in memory.
"""

from __future__ import annotations

import io
import os
import pickle
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import dagster as dg

if TYPE_CHECKING:
    from upath import UPath

__all__ = [
    "STORAGE_ENV",
    "SharedStorageIOManager",
    "QuarterValues",
    "encode_value",
    "decode_value",
]

STORAGE_ENV = "GAP_MONITOR_STORAGE"
PARQUET_MAGIC = b"PAR1"


def encode_value(obj: Any) -> bytes:
    """The bytes stored for ``obj``: Parquet for a table, a pickle otherwise."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    if isinstance(obj, pd.DataFrame) and not obj.attrs:
        import geopandas as gpd

        if isinstance(obj, gpd.GeoDataFrame):
            obj.to_parquet(buf, index=True)  # GeoParquet: geometry as WKB, CRS in metadata
        else:
            try:
                obj.to_parquet(buf, index=True, engine="pyarrow")
            except (pa.ArrowException, TypeError, ValueError):
                buf = io.BytesIO()  # a column Arrow cannot type (mixed objects): pickle it
                pickle.dump(obj, buf, protocol=pickle.HIGHEST_PROTOCOL)
    elif isinstance(obj, pa.Table):
        pq.write_table(obj, buf)
    else:
        pickle.dump(obj, buf, protocol=pickle.HIGHEST_PROTOCOL)
    return buf.getvalue()


def decode_value(data: bytes) -> Any:
    """The value :func:`encode_value` stored."""
    if data[:4] != PARQUET_MAGIC:
        return pickle.loads(data)
    import pyarrow.parquet as pq

    meta = pq.read_metadata(io.BytesIO(data)).metadata or {}
    if b"geo" in meta:
        import geopandas as gpd

        return gpd.read_parquet(io.BytesIO(data))
    if b"pandas" in meta:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data), engine="pyarrow")
    return pq.read_table(io.BytesIO(data))


class QuarterValues(Mapping[str, Any]):
    """The stored values of several partitions of one asset, read when asked for (not kept):
    ``key in values`` says whether a partition has a stored value."""

    def __init__(self, paths: dict[str, UPath], load: Any) -> None:
        self._paths = paths
        self._load = load

    def __getitem__(self, key: str) -> Any:
        path = self._paths[key]
        try:
            return self._load(path)
        except FileNotFoundError:
            raise KeyError(f"{key}: no stored value at {path}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._paths and self._paths[key].exists()  # type: ignore[index]

    def __iter__(self) -> Iterator[str]:
        return (k for k in self._paths if k in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _UPathValues(dg.UPathIOManager):
    extension = ""  # the format is in the bytes (see decode_value)

    def load_partitions(self, context: dg.InputContext) -> Any:
        # lazily only where the input is declared Any (the per-quarter steps and the
        # across-quarter assets' AllQuarters); a declared dict gets a dict, as usual
        if len(context.asset_partition_keys) == 1 or not context.dagster_type.is_any:
            return super().load_partitions(context)
        paths = self._get_paths_for_partitions(context)
        allow_missing = (context.definition_metadata or {}).get("allow_missing_partitions", False)
        if not allow_missing:
            for key, path in paths.items():
                if not path.exists():
                    raise FileNotFoundError(f"{context.asset_key.to_user_string()} {key}: {path}")
        return QuarterValues(paths, self._read)

    def _read(self, path: UPath) -> Any:
        return decode_value(path.read_bytes())

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if not context.has_asset_partitions or len(context.asset_partition_keys) == 1:
            return super().handle_output(context, obj)
        # one step over several partitions: a dict keyed by partition (those it computed)
        if obj is None:
            return None
        if not isinstance(obj, Mapping):
            raise TypeError(
                f"{context.asset_key.to_user_string()}: a step over partitions "
                f"{context.asset_partition_keys[0]}..{context.asset_partition_keys[-1]} must "
                f"return a dict keyed by partition, not {type(obj).__name__}"
            )
        paths = self._get_paths_for_partitions(context)
        for key, value in obj.items():
            path = paths[key]
            self.make_directory(path.parent)
            self.dump_to_path(context=context, obj=value, path=path)
        context.add_output_metadata({"partitions_stored": dg.MetadataValue.json(sorted(obj))})
        return None

    def make_safe_partition_path(self, base_path: UPath, partition: str) -> UPath:
        from dagster._core.storage.upath_io_manager import (
            escape_dotdot_segments,
            escape_leading_slash,
        )

        return base_path / escape_dotdot_segments(escape_leading_slash(partition))

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        data = encode_value(obj)
        if path.protocol in ("", "file", "local"):
            # a local folder: whole file, then one rename (a killed step leaves only a temp file)
            target = str(path.path) if hasattr(path, "path") else str(path)
            tmp = f"{os.path.dirname(target)}/.tmp-{os.path.basename(target)}.{os.getpid()}"
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        else:
            path.write_bytes(data)  # one PUT: an object appears whole or not at all

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        return self._read(path)

    def get_metadata(self, context: dg.OutputContext, obj: Any) -> dict[str, Any]:
        return {"storage": dg.MetadataValue.text(str(self._base_path))}


class SharedStorageIOManager(dg.ConfigurableIOManagerFactory):
    """Asset values under ``base_path`` (``GAP_MONITOR_STORAGE``): a folder or an fsspec URL;
    empty means the instance's ``storage/`` folder."""

    base_path: str = ""

    def create_io_manager(self, context: dg.InitResourceContext) -> _UPathValues:
        from upath import UPath

        base = self.base_path.strip()
        if not base:
            base = context.instance.storage_directory() if context.instance else ".dagster_storage"
        return _UPathValues(base_path=UPath(base))
