"""Readers and validators for the field's input formats.

Each tabular reader returns a :class:`geodata.validation.ReadResult` (accepted rows, quarantined
rows with ``_file, _row, _column, _reason``, reconciled counts, ``meta`` with ``sha256`` and
``sample``); a file that cannot be read at all raises a :class:`geodata.errors.InputError`
subclass naming the file and the reason.

=====================  ==========================================  ===========================
module                 function                                    format
=====================  ==========================================  ===========================
``ookla``              :func:`read_speed_tiles`                    Ookla Open Data tiles
``opencellid``         :func:`read_cell_sites`                     OpenCelliD / MLS CSV
``adoption``           :func:`read_adoption`                       per-province adoption CSV
``raster``             :func:`open_raster`                         GeoTIFF (coverage, population)
``tabular``            shared CSV/UTF-8 handling                   --
=====================  ==========================================  ===========================
"""

from geodata.readers.adoption import read_adoption
from geodata.readers.ookla import VIETNAM_BBOX, read_speed_tiles
from geodata.readers.opencellid import read_cell_sites
from geodata.readers.raster import RasterInfo, iter_windows, open_raster, raster_valid_fraction
from geodata.readers.tabular import SAMPLE_KEY

__all__ = [
    "SAMPLE_KEY",
    "VIETNAM_BBOX",
    "RasterInfo",
    "iter_windows",
    "open_raster",
    "raster_valid_fraction",
    "read_adoption",
    "read_cell_sites",
    "read_speed_tiles",
]
