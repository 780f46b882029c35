"""The exception hierarchy: every error a user can cause or fix is a Raw2ReadyError.

The CLI prints `str(error)` on one line and exits non-zero; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


class Raw2ReadyError(Exception):
    """Base class for errors with a message a user can act on."""


class ConfigError(Raw2ReadyError):
    """The configuration names a bad value; the message names the key and its source."""


class GridError(Raw2ReadyError):
    """A tile id is not a valid MGRS / Sentinel-2 grid tile."""


class ItemError(Raw2ReadyError):
    """A STAC item or scene record cannot serve the requested products."""


class SearchError(Raw2ReadyError):
    """An archive search failed (unreachable API, unreadable catalog)."""


class DownloadError(Raw2ReadyError):
    """An asset could not be fetched or failed verification."""


class ProcessingError(Raw2ReadyError):
    """A scene could not be turned into products (bad raster, inconsistent bands)."""


class ProductValidationError(Raw2ReadyError):
    """A written product failed validation (not a COG, bad STAC) and was not kept."""


class ArchiveError(Raw2ReadyError):
    """A product archive (SAFE zip) is unsound: corrupt, unsafe member paths, bad checksums."""


class ExternalToolError(Raw2ReadyError):
    """An external processor (Sen2Cor, SNAP gpt) is missing or failed."""


class CorruptDownloadError(DownloadError):
    """Fetched bytes contradict an integrity signal (size, checksum, ETag, decode): the file
    is deleted and fetched again once."""


class SceneDataError(ProcessingError):
    """A scene's input data cannot be read; fails that scene alone, naming the file and why."""

    def __init__(self, scene: str, file: str, cause: str) -> None:
        lines = str(cause).strip().splitlines() or ["unreadable"]
        super().__init__(f"scene {scene}: {file}: {lines[0]}")
        self.scene = scene


class PublishError(Raw2ReadyError):
    """The STAC API database (pgstac) could not be reached or refused the catalog."""


class CatalogSearchError(Raw2ReadyError):
    """A search of the campaign's own index cannot run (bad filter, no index)."""


class AreaOfInterestError(Raw2ReadyError):
    """An area of interest cannot be read (not GeoJSON polygons, unknown or clashing CRS)."""
