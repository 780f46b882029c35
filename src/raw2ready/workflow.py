"""What the Snakefile needs from the package: the validated campaign and its job list.

The Snakefile stays a DAG declaration; enumerating scenes from inventories and naming
their files happens here, where it can be tested without Snakemake.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from raw2ready import layout as patterns
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

    def scene_outputs(self, inventory: str | Path) -> list[str]:
        """Products and STAC item of every scene in an inventory.

        All of them, not only the items: Snakemake reruns a job for a missing output only
        when a consumer asks for that output.
        """
        outputs: list[str] = []
        for record in read_inventory(Path(inventory)):
            outputs.extend(
                self.layout.product(record, name).as_posix() for name in self.settings.products
            )
            outputs.append(self.layout.item(record).as_posix())
        return outputs

    def sen2cor_inputs(self, inventory: str | Path, scene: str) -> list[str]:
        """The Sen2Cor L2A folder a scene job needs: one for L1C SAFE scenes, else none."""
        if self.settings.raw["processors"]["l2a"] != "sen2cor":
            return []
        path = Path(inventory)
        record = _records_by_id(str(path), path.stat().st_mtime_ns).get(scene)
        if record is None or not is_safe_scene(record) or record.collection != L1C_COLLECTION:
            return []
        return [self.layout.l2a(record).as_posix()]


@lru_cache(maxsize=256)
def _records_by_id(path: str, _mtime_ns: int) -> dict[str, SceneRecord]:
    """An inventory's records by id, read once per version of the file (a job per scene)."""
    return {record.id: record for record in read_inventory(Path(path))}


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
