"""raw2ready: reprocess Sentinel-2 scenes per MGRS tile into analysis-ready COGs and STAC."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("raw2ready")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"
