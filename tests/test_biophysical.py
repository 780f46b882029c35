"""ESA's Biophysical Processor networks in numpy against ESA's own test cases.

The coefficients and the test-case files come from the `satellitetools` wheel (optional
extra `biophysical`), which copied them from ESA's Sentinel-2 Toolbox; the tests skip
without it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from raw2ready.errors import ConfigError
from raw2ready.products import biophysical

from .conftest import make_settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("satellitetools") is None,
    reason="pip extra 'biophysical' (satellitetools) not installed",
)


@pytest.fixture(scope="module")
def loaded() -> tuple[dict[str, biophysical.Network], biophysical.NetworkSource]:
    return biophysical.load_networks(None)


def _cases(folder: Path, variable: str) -> np.ndarray:
    return np.loadtxt(folder / variable / f"{variable}_TestCases", delimiter=",")


@pytest.mark.parametrize("name", ["lai", "fapar"])
def test_networks_reproduce_esa_test_cases(loaded, name: str) -> None:
    """Every ESA test case within 1e-3 (the files print 5 significant digits); where ESA
    gives no value (NaN: output beyond the valid range) neither do we."""
    networks, source = loaded
    cases = _cases(source.folder, biophysical.VARIABLES[name])
    assert len(cases) == 100
    values, _flags = networks[name].evaluate(cases[:, :11].T)
    expected = cases[:, 11]
    np.testing.assert_array_equal(np.isnan(values), np.isnan(expected))
    finite = ~np.isnan(expected)
    assert np.abs(values[finite] - expected[finite]).max() < 1e-3


def test_fcover_has_no_test_cases_but_a_network(loaded) -> None:
    networks, source = loaded
    assert not (source.folder / "FCOVER" / "FCOVER_TestCases").exists()
    assert networks["fcover"].hidden_weights.shape == (5, 11)


def test_input_domain_flag_matches_a_brute_force_grid_search(loaded) -> None:
    """The grid check, computed independently: each pixel's cell row compared with every
    row of ESA's DefinitionDomain_Grid file (1-based cells, 10 per band)."""
    networks, source = loaded
    folder = source.folder / "LAI"
    grid = np.loadtxt(folder / "LAI_DefinitionDomain_Grid", delimiter=",")
    low, high = np.loadtxt(folder / "LAI_DefinitionDomain_MinMax", delimiter=",")
    rng = np.random.default_rng(7)
    realistic = _cases(source.folder, "LAI")[:, :8]
    jittered = realistic + rng.normal(0, 0.03, size=realistic.shape)
    reflectance = np.vstack([realistic, jittered, rng.uniform(low, high, size=(100, 8))])
    reflectance[:5] = high + 0.01  # outside the box
    cells = np.minimum(np.floor(10 * (reflectance - low) / (high - low)) + 1, 10)
    in_grid = np.array([(grid == row).all(axis=1).any() for row in cells])
    in_box = ((reflectance >= low) & (reflectance <= high)).all(axis=1)
    expected = ~(in_grid & in_box)
    assert 0 < expected.sum() < len(expected)
    inputs = np.vstack([reflectance.T, np.tile([[0.99], [0.8], [0.5]], (1, len(reflectance)))])
    _values, flags = networks["lai"].evaluate(inputs)
    flagged = (flags & biophysical.INPUT_OUT_OF_DOMAIN) != 0
    np.testing.assert_array_equal(flagged, expected)


def test_output_below_minimum_is_clamped_within_tolerance_and_dropped_beyond(loaded) -> None:
    """LAI's valid range is [0, 8] with tolerance 0.2 (ESA's LAI_ExtremeCases file)."""
    networks, _source = loaded
    lai = networks["lai"]
    raw = np.array([-0.1, -0.3, 4.0, 8.5])
    # Drive the output neuron directly: a zero-weight network whose bias gives `raw`.
    values = []
    flags = []
    for target in raw:
        output = 2 * (target - lai.output_low) / (lai.output_high - lai.output_low) - 1
        probe = biophysical.Network(
            **{
                **lai.__dict__,
                "output_weights": np.zeros_like(lai.output_weights),
                "output_bias": output,
            }
        )
        value, flag = probe.evaluate(np.full((11, 1), 0.5))
        values.append(value[0])
        flags.append(int(flag[0]) & ~biophysical.INPUT_OUT_OF_DOMAIN)
    np.testing.assert_allclose(values[0], 0.0)
    assert np.isnan(values[1]) and np.isnan(values[3])
    np.testing.assert_allclose(values[2], 4.0)
    assert flags == [
        biophysical.OUTPUT_CLAMPED_LOW,
        biophysical.OUTPUT_TOO_LOW,
        0,
        biophysical.OUTPUT_TOO_HIGH,
    ]


def test_provenance_names_package_version_and_checksum(loaded) -> None:
    _networks, source = loaded
    assert source.origin.startswith("satellitetools 2.1.6")
    assert len(source.sha256) == 64


def test_auxdata_folder_without_networks_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"processors\.biophysical\.auxdata"):
        biophysical.locate(str(tmp_path))


def test_snap_auxdata_folder_is_read_and_recorded_by_path(loaded, tmp_path: Path) -> None:
    """A SNAP installation's folder gives the same networks, recorded by its path."""
    _networks, source = loaded
    for variable in ("LAI",):
        (tmp_path / variable).mkdir()
        for path in (source.folder / variable).iterdir():
            (tmp_path / variable / path.name).write_bytes(path.read_bytes())
    networks, copied = biophysical.load_networks(str(tmp_path))
    assert list(networks) == ["lai"]
    assert copied.origin == str(tmp_path)
    cases = _cases(tmp_path, "LAI")
    values, _flags = networks["lai"].evaluate(cases[:, :11].T)
    assert np.abs(values - cases[:, 11]).max() < 1e-3


def test_config_accepts_fapar_with_the_numpy_processor_and_asks_for_its_bands(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path, products=["lai", "fapar", "mask"], processors={"lai": "biophysical"}
    )
    assert settings.processors.uses_biophysical
    assert settings.bands == {*biophysical.INPUT_BANDS, "SCL"}
    assert settings.processors.biophysical.auxdata is None
    with pytest.raises(ConfigError, match="fapar"):
        make_settings(tmp_path, products=["lai", "fapar"])
