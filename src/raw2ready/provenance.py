"""What produced an output: software versions and the configuration digest."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import rasterio

from raw2ready import __version__

_PACKAGES = ("numpy", "numexpr", "rasterio", "rio-cogeo", "pystac", "pystac-client")


def software_versions() -> dict[str, str]:
    """Versions of raw2ready, GDAL and the Python packages that shape the products."""
    versions = {"raw2ready": __version__, "GDAL": rasterio.__gdal_version__}
    for package in _PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions
