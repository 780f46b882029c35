"""A Sentinel-1 GRD product: what its name says, its per-tile scene records and products.

A GRD product covers whichever MGRS tiles its footprint overlaps (sentinel1/search.py
finds them); raw2ready makes its products per tile, so each (product, tile) pair is one
scene record, `<product>_T<tile>`, whose outputs live in the family's subfolder
(layout.py). Light on purpose: the search job, the workflow and the backscatter job
(sentinel1/backscatter.py) all use it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from raw2ready.errors import ItemError
from raw2ready.scene import BandAsset, SceneRecord
from raw2ready.sentinel2.safe import SAFE_ASSET

COLLECTION = "sentinel-1-grd"
#: Sentinel-1 polarisation -> product; Terrain-Flattening names its bands Gamma0_<pol>.
GAMMA0 = {"VV": "gamma0_vv", "VH": "gamma0_vh"}
_S1_NAME = re.compile(
    r"^(?P<mission>S1[A-D])_(?P<mode>IW|EW|SM|WV)_GRD(?P<res>[HMF])_1S(?P<pols>SV|SH|DV|DH)_"
    r"(?P<start>\d{8}T\d{6})_\d{8}T\d{6}_(?P<orbit>\d{6})_[0-9A-F]{6}_[0-9A-F]{4}$"
)
_POLARISATIONS = {"SV": ("VV",), "SH": ("HH",), "DV": ("VV", "VH"), "DH": ("HH", "HV")}


@dataclass(frozen=True)
class S1Product:
    """What a Sentinel-1 GRD product name says."""

    id: str
    mission: str
    mode: str
    start: datetime
    absolute_orbit: int
    polarisations: tuple[str, ...]

    @classmethod
    def from_name(cls, name: str) -> S1Product:
        """Parse `S1A_IW_GRDH_1SDV_<start>_<stop>_<orbit>_<take>_<crc>[.SAFE|.zip]`."""
        product_id = name.removesuffix(".zip").removesuffix(".SAFE")
        match = _S1_NAME.match(product_id)
        if not match:
            raise ItemError(f"'{name}' is not a Sentinel-1 GRD product name")
        start = datetime.strptime(match["start"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return cls(
            product_id, match["mission"], match["mode"], start, int(match["orbit"]),
            _POLARISATIONS[match["pols"]],
        )  # fmt: skip

    @classmethod
    def of(cls, record: SceneRecord) -> S1Product:
        """The product of a Sentinel-1 scene record (`<product>_T<tile>`)."""
        return cls.from_name(record.id.removesuffix(f"_T{record.tile}"))

    def record(self, tile: str, source_href: str, safe: BandAsset | None = None) -> SceneRecord:
        """The record naming this product's outputs for one tile (layout and STAC item)."""
        return SceneRecord(
            id=f"{self.id}_T{tile}",
            tile=tile,
            datetime=self.start.isoformat().replace("+00:00", "Z"),
            platform=f"sentinel-{self.mission[1:].lower()}",
            processing_baseline="",
            apply_boa_offset=False,
            cloud_cover=None,
            collection=COLLECTION,
            source_href=source_href,
            bands={SAFE_ASSET: safe} if safe is not None else {},
        )

    def missing(self, polarisations: Iterable[str]) -> list[str]:
        """The wanted polarisations this product lacks."""
        return [pol for pol in polarisations if pol not in self.polarisations]


def product_names(polarisations: Iterable[str]) -> list[str]:
    """The gamma0 products of the configured polarisations, in config order."""
    return [GAMMA0[pol] for pol in polarisations]
