"""The shared transport every archive calls: HTTP and S3 bodies, retries, resumable partial
files and verification. No module here imports an archive provider; archives hand in their
hooks (`DownloadOptions.sources`, `HttpAccess`, a `Writer`)."""

from raw2ready.archives.transfer.fetcher import Fetcher, download_scene, fetch
from raw2ready.archives.transfer.options import DownloadOptions

__all__ = ["DownloadOptions", "Fetcher", "download_scene", "fetch"]
