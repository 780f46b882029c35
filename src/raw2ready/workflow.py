"""What the Snakefile needs from the package: the validated campaign and its job list.

The Snakefile stays a DAG declaration; enumerating batches from inventories and naming
their files happens here, where it can be tested without Snakemake. Inventories are read
once per version of the file, since input functions run once per job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from raw2ready import layout as patterns
from raw2ready.batches import Batch, group, is_complete, target
from raw2ready.config import Settings, validate_config
from raw2ready.errors import ConfigError
from raw2ready.inventory import read_inventory
from raw2ready.layout import Layout
from raw2ready.scene import SceneRecord
from raw2ready.sen2cor import L1C_COLLECTION, is_safe_scene


@dataclass(frozen=True)
class Campaign:
    """A validated campaign as the workflow sees it."""

    settings: Settings
    layout: Layout

    @property
    def settings_json(self) -> str:
        """The settings handed to every job (so jobs need no config file of their own)."""
        return json.dumps(self.settings.raw, sort_keys=True, separators=(",", ":"))

    def out(self, pattern: str) -> str:
        """An output-folder pattern with Snakemake wildcards left in place."""
        return f"{self.layout.output_dir.as_posix()}/{pattern}"

    def work(self, pattern: str) -> str:
        """A work-folder pattern with Snakemake wildcards left in place."""
        return f"{self.layout.work_dir.as_posix()}/{pattern}"

    def log(self, name: str) -> str:
        """A per-job log file pattern under the work folder."""
        return f"{self.layout.work_dir.as_posix()}/{patterns.LOGS}/{name}.log"

    @property
    def uses_sen2cor(self) -> bool:
        """True when L1C scenes are made into L2A by Sen2Cor jobs before their batch job."""
        return self.settings.raw["processors"]["l2a"] == "sen2cor"

    def searched(self, tile: str) -> bool:
        """True when the tile's inventory exists, so its jobs can be listed without a search."""
        return self.layout.inventory(tile).exists()

    def batch_targets(self, inventory: str | Path) -> list[str]:
        """The batch records a tile catalog waits for: one per month with scenes.

        A finished batch that lost outputs is asked for its next repair record, which makes
        Snakemake rerun it (see batches.target). Computed once per inventory version: the
        answer does not change while jobs run (a batch job writes the record asked for).
        """
        return _targets(
            self.layout, tuple(self.settings.products), str(inventory), _mtime(inventory)
        )

    def unfinished(self, inventory: str | Path, batch: Batch) -> list[SceneRecord]:
        """The scenes of a batch whose outputs are not all there yet."""
        records = _batches(str(inventory), _mtime(inventory)).get(batch, [])
        products = self.settings.products
        return [record for record in records if not is_complete(self.layout, record, products)]

    def sen2cor_inputs(self, inventory: str | Path, batch: Batch) -> list[str]:
        """The Sen2Cor L2A folders a batch job needs: of its unfinished L1C SAFE scenes."""
        if not self.uses_sen2cor:
            return []
        return [
            self.layout.l2a(record).as_posix()
            for record in self.unfinished(inventory, batch)
            if is_safe_scene(record) and record.collection == L1C_COLLECTION
        ]


def _mtime(path: str | Path) -> int:
    """Modification time of a file in ns: part of cache keys, so a rewritten file is reread."""
    return Path(path).stat().st_mtime_ns


@lru_cache(maxsize=1024)
def _batches(path: str, _mtime_ns: int) -> dict[Batch, list[SceneRecord]]:
    """An inventory's scenes by batch, read once per version of the file."""
    return group(read_inventory(Path(path)))


@lru_cache(maxsize=1024)
def _targets(layout: Layout, products: tuple[str, ...], path: str, mtime_ns: int) -> list[str]:
    """The batch records asked of an inventory's batches (see Campaign.batch_targets)."""
    return [
        target(layout, batch, records, list(products)).as_posix()
        for batch, records in _batches(path, mtime_ns).items()
    ]


def load_campaign(config: dict[str, Any], configfiles: list[Any]) -> Campaign:
    """Validate Snakemake's config; the message names the key and the config file(s)."""
    source = ", ".join(str(path) for path in configfiles) or "the configuration"
    if not config:
        raise ConfigError(
            "no configuration given: run with --configfile config/demo.yaml "
            "(or config/config.yaml for a real campaign)"
        )
    settings = validate_config(config, source)
    return Campaign(settings, Layout(settings.output_dir, settings.work_dir))
