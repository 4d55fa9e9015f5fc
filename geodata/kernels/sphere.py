"""Points on H3's sphere: unit vectors for k-d trees, and chord <-> great-circle distance.

A k-d tree over 3-D unit vectors finds nearest neighbours by chord length, which orders points
exactly as the great-circle distance does; these helpers convert between the two on the sphere
H3 uses (``EARTH_RADIUS_KM``, as ``h3.great_circle_distance``).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EARTH_RADIUS_KM", "unit_vectors", "chord_to_km", "km_to_chord", "great_circle_km"]

#: Mean earth radius used by the H3 library (``EARTH_RADIUS_KM`` in ``h3api.h``).
EARTH_RADIUS_KM = 6371.007180918475


def unit_vectors(lat: npt.ArrayLike, lng: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """``(n, 3)`` unit vectors of points given in degrees."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians(np.asarray(lng, dtype=np.float64))
    cos_phi = np.cos(phi)
    return np.column_stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)])


def chord_to_km(chord: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Great-circle km of chords between unit vectors (``inf`` stays ``inf``)."""
    c = np.asarray(chord, dtype=np.float64)
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(c / 2.0, 0.0, 1.0))


def km_to_chord(km: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Chord between unit vectors of points ``km`` apart on the sphere."""
    return 2.0 * np.sin(np.asarray(km, dtype=np.float64) / (2.0 * EARTH_RADIUS_KM))


def great_circle_km(lat1, lng1, lat2, lng2) -> npt.NDArray[np.float64]:
    """Great-circle distance (km), element-wise."""
    return chord_to_km(np.linalg.norm(unit_vectors(lat1, lng1) - unit_vectors(lat2, lng2), axis=1))
