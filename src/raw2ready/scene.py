"""The canonical scene record: one provider-independent description of an L2A scene.

Every archive's items are normalized into this record at search time; nothing downstream
knows which provider a scene came from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from raw2ready.sentinel2.angles import SunView

#: L2A reflectance = (DN + BOA_ADD_OFFSET) / QUANTIFICATION from processing baseline 04.00 on.
BOA_ADD_OFFSET = -1000
BOA_QUANTIFICATION = 10_000.0


@dataclass(frozen=True)
class BandAsset:
    """Where to fetch one band and how to verify it."""

    href: str
    size: int | None = None
    checksum: str | None = None


@dataclass(frozen=True)
class SceneRecord:
    """A normalized scene: identity, radiometry decision and band locations."""

    id: str
    tile: str
    datetime: str
    platform: str
    processing_baseline: str
    apply_boa_offset: bool
    cloud_cover: float | None
    collection: str
    source_href: str
    bands: dict[str, BandAsset] = field(default_factory=dict)
    #: Mean sun and view angles, where the archive's metadata gives them (biophysical LAI).
    angles: SunView | None = None

    @property
    def acquired(self) -> datetime:
        """Sensing time as an aware datetime."""
        return datetime.fromisoformat(self.datetime.replace("Z", "+00:00"))

    @property
    def boa_add_offset(self) -> int:
        """DN offset to add before scaling: -1000 when the offset must still be applied."""
        return BOA_ADD_OFFSET if self.apply_boa_offset else 0

    @property
    def year(self) -> str:
        """Sensing year, e.g. `2023`."""
        return f"{self.acquired.year:04d}"

    @property
    def quarter(self) -> str:
        """Sensing quarter, e.g. `Q1`."""
        return f"Q{(self.acquired.month - 1) // 3 + 1}"

    @property
    def month(self) -> str:
        """Sensing month, zero-padded, e.g. `01`."""
        return f"{self.acquired.month:02d}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form (the inventory line format); `angles` only when known,
        so records without them keep their form (and their inventories their checksums)."""
        data = asdict(self)
        if self.angles is None:
            del data["angles"]
        return data

    def summary(self) -> dict[str, Any]:
        """The short form shown to users: bands as canonical name -> href."""
        data = self.to_dict()
        data["bands"] = {name: band.href for name, band in self.bands.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SceneRecord:
        """Rebuild a record from `to_dict` output."""
        values = dict(data)
        values["bands"] = {name: BandAsset(**band) for name, band in data["bands"].items()}
        if data.get("angles") is not None:
            values["angles"] = SunView(**data["angles"])
        return cls(**values)

    def to_json(self) -> str:
        """Compact, key-sorted JSON (stable, so unchanged records compare equal)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SceneRecord:
        """Inverse of `to_json`."""
        return cls.from_dict(json.loads(text))
