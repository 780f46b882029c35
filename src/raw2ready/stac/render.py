"""How STAC clients draw a campaign's products: quicklook assets of items and the render
extension's hints (rescale, colour map) that TiTiler and STAC browsers apply by default.

Render hints are given in stored values (TiTiler rescales what it reads, before any
scale/offset), computed from each product's decoded range in the registry.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import pystac
from pystac.extensions.render import Render, RenderExtension

from raw2ready.products.registry import PRODUCTS, ProductSpec

PNG_MEDIA_TYPE = str(pystac.MediaType.PNG)

#: Quicklook asset -> (its STAC role and title, what it shows of `title`).
QUICKLOOKS = {
    "thumbnail": ("thumbnail", "Thumbnail", "{title}, masked pixels transparent"),
    "overview": ("overview", "Overview", "{title} of the source bands"),
}


def _stored(value: float, spec: ProductSpec) -> float:
    """A decoded value as the stored integer it is written as."""
    return round((value - spec.offset) / spec.scale, 6)


def render_hint(spec: ProductSpec) -> Render | None:
    """The render extension's entry of one product (None: it has no hint)."""
    render = spec.render
    if render is None:
        return None
    hint = Render.create(assets=[spec.name], title=spec.title, nodata=spec.nodata)
    if render.range is not None:
        hint.rescale = [[_stored(value, spec) for value in render.range]]
    if render.colormap_name is not None:
        hint.colormap_name = render.colormap_name
    if render.colormap is not None:
        hint.colormap = {str(code): list(rgba) for code, rgba in render.colormap.items()}
    return hint


def add_render_hints(stac: pystac.Item | pystac.Collection, products: Iterable[str]) -> None:
    """Add the render hints of the products that have one to an item or collection."""
    hints = {name: hint for name in products if (hint := render_hint(PRODUCTS[name]))}
    if hints:
        RenderExtension.ext(stac, add_if_missing=True).apply(hints)


def add_quicklooks(
    item: pystac.Item, looks: Mapping[str, tuple[Path, str]], item_dir: Path
) -> None:
    """Add each quicklook (asset name -> (PNG file, what it shows)) as an asset of the item,
    with a href relative to the item's folder."""
    for name, (path, title) in looks.items():
        role, heading, text = QUICKLOOKS[name]
        href = Path(os.path.relpath(path, item_dir)).as_posix()
        title = f"{heading}: {text.format(title=title)}"
        item.add_asset(
            name, pystac.Asset(href, title=title, media_type=PNG_MEDIA_TYPE, roles=[role])
        )


def quicklook_definitions() -> dict[str, pystac.ItemAssetDefinition]:
    """The collection's `item_assets` entries of the quicklooks."""
    return {
        name: pystac.ItemAssetDefinition.create(
            title=heading, description=None, media_type=PNG_MEDIA_TYPE, roles=[role]
        )
        for name, (role, heading, _text) in QUICKLOOKS.items()
    }
