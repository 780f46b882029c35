"""The optional ML cloud and shadow mask (ukis-csmask): a bright cloud and its shadow over
vegetation are flagged, the tile chain combines the network's labels with the SCL as
docs/masks.md says (checked against ukis-csmask called directly on the same reflectance),
and it runs with no network at all."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from scipy import ndimage

from raw2ready.campaign.reprocess import lineage
from raw2ready.errors import ConfigError
from raw2ready.products import csmask, masking
from raw2ready.raster.cog import COGOptions
from raw2ready.raster.tile_chain import ProcessingOptions, process_scene
from raw2ready.scene import SceneRecord

needs_csmask = pytest.mark.skipif(
    importlib.util.find_spec("ukis_csmask") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="ukis-csmask and onnxruntime are not installed (pip install raw2ready[ml-mask])",
)
#: Band order of the synthetic reflectance (the network's own names).
ORDER = ["blue", "green", "red", "nir", "swir16", "swir22"]
BAND_IDS = dict(zip(ORDER, ["B02", "B03", "B04", "B08", "B11", "B12"], strict=True))
#: The scene's size on the 20 m grid (one network strip: classified in one piece).
SIZE = 320
NO_BUFFERS = masking.BufferDistances(0, 0, 0)


def _record() -> SceneRecord:
    return SceneRecord(
        id="S2B_47PPR_20240115_0_L2A", tile="47PPR", datetime="2024-01-15T03:51:21Z",
        platform="sentinel-2b", processing_baseline="05.10", apply_boa_offset=True,
        cloud_cover=None, collection="sentinel-2-l2a", source_href="test",
    )  # fmt: skip


def _scene(folder: Path) -> tuple[dict[str, Path], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Vegetated fields under a bright, textured cumulus and its shadow; DNs with the -1000
    BOA offset. Each 10 m band's 2 x 2 pixels are its 20 m DN -30, +30, +30, -30, so their
    average is that DN exactly, and it has a nearest-neighbour overview that is not (the
    chain must average the full resolution, not read the overview).

    Returns the files, the 20 m DNs by band id (SCL included) and truth masks (20 m)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(3)
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    vegetation = np.empty((SIZE, SIZE, 6), np.float32)
    vegetation[:] = (0.03, 0.06, 0.04, 0.35, 0.18, 0.09)
    vegetation[..., 3] += 0.05 * ((rows // 12 + cols // 17) % 3)
    vegetation += rng.normal(0, 0.005, vegetation.shape).astype(np.float32)
    texture = 1 + 0.15 * np.sin(rows / 5.0) * np.cos(cols / 7.0)
    distance = np.hypot(rows - 110, cols - 120)
    opacity = np.clip(1.3 * np.exp(-2 * (distance / 60) ** 2) * texture, 0, 1)
    white = np.array([0.8, 0.8, 0.816, 0.84, 0.6, 0.44], np.float32)
    surface = vegetation * (1 - opacity[..., None]) + opacity[..., None] * white
    shade = np.roll(opacity, (40, 55), (0, 1)) * (opacity < 0.2)
    surface *= (1 - 0.7 * shade)[..., None]
    truth = {"cloud": opacity > 0.5, "shadow": (np.roll(opacity, (40, 55), (0, 1)) > 0.5)}
    truth["shadow"] &= ~truth["cloud"]

    scl = np.full((SIZE, SIZE), 4, np.uint8)  # vegetation
    scl[opacity > 0.9] = 9  # Sen2Cor finds the core of the cloud only
    scl[250:262, 20:40] = 1  # saturated or defective
    scl[20:30, 260:280] = 3  # a shadow the network does not see
    edge = cols > SIZE - 1 - rows // 4
    scl[edge] = 0
    dn = {"SCL": scl}
    for index, name in enumerate(ORDER):
        digital = np.clip(np.rint(surface[..., index] * 10000) + 1000, 1, 65535).astype(np.uint16)
        digital[edge] = 0
        dn[BAND_IDS[name]] = digital
    transform = Affine(20, 0, 600000, 0, -20, 1600020)
    paths = {}
    for band, data in dn.items():
        fine = band in ("B02", "B03", "B04", "B08")
        written = data
        if fine:
            written = np.repeat(np.repeat(data, 2, 0), 2, 1).astype(np.int32)
            written += np.where(written > 0, np.tile([[-30, 30], [30, -30]], (SIZE, SIZE)), 0)
            written = written.astype(np.uint16)
        paths[band] = folder / f"{band}.tif"
        with rasterio.open(
            paths[band], "w", driver="GTiff", width=written.shape[1], height=written.shape[0],
            count=1, dtype=written.dtype, crs="EPSG:32647", nodata=0, tiled=True,
            blockxsize=256, blockysize=256,
            transform=transform @ Affine.scale(0.5) if fine else transform,
        ) as dst:  # fmt: skip
            dst.write(written, 1)
            if fine:
                dst.build_overviews([2], Resampling.nearest)
    return paths, dn, truth


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], dict, dict]:
    return _scene(tmp_path_factory.mktemp("ml") / "in")


@pytest.fixture(scope="module")
def network_labels(scene: tuple[dict[str, Path], dict, dict]) -> np.ndarray:
    """ukis-csmask called directly on the scene's 20 m surface reflectance."""
    from ukis_csmask.mask import CSmask

    _, dn, _ = scene
    stack = np.stack([dn[BAND_IDS[name]] for name in ORDER], axis=-1)
    reflectance = ((stack.astype(np.float64) - 1000) / 10000).astype(np.float32)
    return CSmask(img=reflectance, band_order=ORDER, product_level="l2a").csm[..., 0]


def _mask_product(
    scene: tuple, folder: Path, method: str, buffers: masking.BufferDistances = NO_BUFFERS
) -> np.ndarray:
    paths, _, _ = scene
    output = folder / "mask.tif"
    options = ProcessingOptions(
        ("mask",), buffers=buffers, mask_method=method, cog=COGOptions(blocksize=256)
    )
    process_scene(_record(), paths, {"mask": output}, options, folder / "scratch")
    with rasterio.open(output) as src:
        return src.read(1)


def _expected(
    dn: dict[str, np.ndarray], labels: np.ndarray, method: str, buffered: bool = False
) -> np.ndarray:
    """The rule of docs/masks.md, pixel by pixel, at 10 m; with `buffered`, the default
    buffers (300 m cloud, 90 m shadow) from scipy's exact distance transform on the result."""
    scl_code = {0: 255, 1: 4, 3: 3, 8: 1, 9: 1, 10: 2}  # the default masked classes
    network_code = {0: 0, 1: 1, 2: 3}  # background, cloud, shadow
    expected = np.zeros((SIZE, SIZE), np.uint8)
    for (row, col), scl_class in np.ndenumerate(dn["SCL"]):
        from_scl = scl_code.get(int(scl_class), 0)
        from_network = network_code[int(labels[row, col])]
        if method == "both":
            expected[row, col] = from_scl if from_scl else from_network
        else:  # ml: the SCL decides no data and the other masked classes only
            expected[row, col] = from_scl if from_scl in (255, 4) else from_network
    if buffered:
        clear = expected == 0
        for code, buffer_code, metres in ((3, 7, 90), (1, 5, 300)):  # cloud claims last
            near = ndimage.distance_transform_edt(expected != code, sampling=20) <= metres
            expected[near & clear] = buffer_code
    any_zero = np.logical_or.reduce([dn[band] == 0 for band in BAND_IDS.values()])
    expected[any_zero] = 255
    return np.repeat(np.repeat(expected, 2, 0), 2, 1)


@needs_csmask
def test_the_network_flags_the_bright_cloud_and_its_shadow(network_labels, scene) -> None:
    _, _, truth = scene
    assert np.mean(network_labels[truth["cloud"]] == 1) > 0.9
    assert np.mean(network_labels[truth["shadow"]] == 2) > 0.6
    clear = ~truth["cloud"] & ~truth["shadow"]
    assert np.mean(network_labels[clear] == 0) > 0.75


@needs_csmask
@pytest.mark.parametrize("method", ["both", "ml"])
def test_the_mask_combines_scl_and_network_as_documented(
    method: str, scene, network_labels, tmp_path: Path
) -> None:
    stored = _mask_product(scene, tmp_path, method)
    expected = _expected(scene[1], network_labels, method)
    assert np.array_equal(stored, expected)
    # the combination matters here: each source masks pixels the other leaves clear
    scl_cloud = np.repeat(np.repeat(scene[1]["SCL"] == 9, 2, 0), 2, 1)
    assert np.count_nonzero((stored == masking.MASK_CLOUD) & ~scl_cloud) > 1000
    kept_scl_shadow = (stored[40:60, 520:560] == masking.MASK_SHADOW).all()
    assert kept_scl_shadow == (method == "both")


@needs_csmask
def test_buffers_are_drawn_around_the_networks_clouds_too(
    scene, network_labels, tmp_path: Path
) -> None:
    stored = _mask_product(scene, tmp_path, "both", masking.BufferDistances())
    expected = _expected(scene[1], network_labels, "both", buffered=True)
    assert np.array_equal(stored, expected)
    assert np.count_nonzero(stored == masking.MASK_CLOUD_BUFFER) > 1000


@needs_csmask
def test_the_lineage_names_the_method_and_the_model_file() -> None:
    import ukis_csmask

    model_file = Path(ukis_csmask.__file__).parent / "model_6b_l2a.onnx"
    digest = hashlib.sha256(model_file.read_bytes()).hexdigest()
    text = lineage(_record(), ProcessingOptions(("mask",), mask_method="both"))
    assert "mask.method both" in text
    assert f"ukis-csmask 1.0.0, model_6b_l2a.onnx sha256 {digest}" in text
    assert "mask.method" not in lineage(_record(), ProcessingOptions(("mask",)))


def test_a_missing_extra_is_a_one_line_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ukis_csmask.mask", None)  # import fails
    with pytest.raises(ConfigError, match=r"needs pip install raw2ready\[ml-mask\]") as error:
        csmask.network_classes(np.zeros((4, 4, 6), np.float32), threads=1)
    assert "\n" not in str(error.value)


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@needs_csmask
@pytest.mark.skipif(not _unshare_works(), reason="unshare -n is unavailable or not permitted")
def test_the_ml_mask_runs_with_no_network(scene, network_labels, tmp_path: Path) -> None:
    paths, dn, _ = scene
    output = tmp_path / "mask.tif"
    files = {band: str(path) for band, path in paths.items()}
    script = textwrap.dedent(
        f"""
        import socket
        from pathlib import Path
        from raw2ready.products.masking import BufferDistances
        from raw2ready.raster.cog import COGOptions
        from raw2ready.raster.tile_chain import ProcessingOptions, process_scene
        from tests.test_ml_mask import _record

        try:  # proves the namespace has no network
            socket.create_connection(("127.0.0.1", 9), timeout=1)
        except OSError as exc:
            print("offline:", exc.errno)
        paths = {{band: Path(path) for band, path in {files!r}.items()}}
        options = ProcessingOptions(("mask",), buffers=BufferDistances(0, 0, 0),
                                    mask_method="both", cog=COGOptions(blocksize=256))
        process_scene(_record(), paths, {{"mask": Path({str(output)!r})}}, options,
                      Path({str(tmp_path / "scratch")!r}))
        """
    )
    project = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "offline: 101" in done.stdout  # ENETUNREACH: not even a loopback interface is up
    with rasterio.open(output) as src:
        assert np.array_equal(src.read(1), _expected(dn, network_labels, "both"))
