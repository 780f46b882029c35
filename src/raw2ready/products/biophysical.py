"""ESA's Biophysical Processor (SNAP Sentinel-2 Toolbox) in numpy: LAI, FAPAR and FCOVER.

Each variable is a two-layer network (Weiss and Baret 2016, S2ToolBox Level 2 products ATBD
v1.1): inputs B03 B04 B05 B06 B07 B8A B11 B12 surface reflectance and the cosines of the view
zenith, sun zenith and relative azimuth angles are normalised to [-1, 1], pass a tansig
(tanh) hidden layer and a linear output neuron, and are denormalised. The definition-domain
checks become quality flags: reflectances outside the training min/max or outside the
training grid of 10 cells per band (input), outputs beyond the tolerance of the valid range
(output: below the minimum within the tolerance it is clamped to the minimum, above the
maximum it has no value, as in ESA's test cases).

The coefficients are GPL-3.0 data of ESA's Toolbox, so raw2ready vendors none of them: they
are read at run time from the `satellitetools` wheel (pip extra `biophysical`) or from a
SNAP installation's auxdata folder, and `NetworkSource` says which (and their checksum) for
each item's provenance.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raw2ready.errors import ConfigError

#: The variables and their network folder names in ESA's auxdata.
VARIABLES = {"lai": "LAI", "fapar": "FAPAR", "fcover": "FCOVER"}
#: Reflectance bands the networks read, in their input order.
INPUT_BANDS = ("B03", "B04", "B05", "B06", "B07", "B8A", "B11", "B12")
#: The network version raw2ready reads from the satellitetools wheel (ESA's "2_1").
PACKAGE = "satellitetools"
PACKAGE_FOLDER = ("biophys", "snap-auxdata", "biophysical", "2_1")
#: Grid cells per band of the input definition domain.
GRID_CELLS = 10

#: Quality flag bits (uint8): why a value is missing or was changed.
INPUT_OUT_OF_DOMAIN = 1
OUTPUT_CLAMPED_LOW = 2
OUTPUT_TOO_LOW = 4
OUTPUT_TOO_HIGH = 8
#: Flag bit -> its name in the item's raw2ready:biophysical_flags (docs/biophysical.md).
FLAG_NAMES = {
    INPUT_OUT_OF_DOMAIN: "input_out_of_domain",
    OUTPUT_CLAMPED_LOW: "output_clamped_to_minimum",
    OUTPUT_TOO_LOW: "output_below_minimum",
    OUTPUT_TOO_HIGH: "output_above_maximum",
}

_FILES = (
    "Normalisation",
    "Denormalisation",
    "Weights_Layer1_Neurons",
    "Weights_Layer1_Bias",
    "Weights_Layer2_Neurons",
    "Weights_Layer2_Bias",
    "ExtremeCases",
    "DefinitionDomain_MinMax",
    "DefinitionDomain_Grid",
)


@dataclass(frozen=True)
class NetworkSource:
    """Where the coefficients came from: a package and its version, or a folder, and the
    SHA-256 of every coefficient file read (in a fixed order), for provenance."""

    folder: Path
    origin: str
    sha256: str

    def as_properties(self) -> dict[str, str]:
        """The item's raw2ready:biophysical_* processing properties."""
        return {"origin": self.origin, "sha256": self.sha256}


def locate(auxdata: str | None) -> Path:
    """The folder holding LAI/, FAPAR/, FCOVER/: `auxdata` (a SNAP installation's
    biophysical/<version> folder) or, when None, the one in the satellitetools wheel."""
    if auxdata is not None:
        folder = Path(auxdata).expanduser()
        if not (folder / "LAI" / "LAI_Normalisation").is_file():
            raise ConfigError(
                f"processors.biophysical.auxdata '{auxdata}' holds no LAI/LAI_Normalisation; "
                "give SNAP's auxdata/s2tbx/biophysical/<version> folder"
            )
        return folder
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "processors.lai: biophysical needs ESA's network coefficients: "
            f"pip install '{PACKAGE}==2.1.6' --no-deps, or set processors.biophysical.auxdata"
        )
    return Path(next(iter(spec.submodule_search_locations))).joinpath(*PACKAGE_FOLDER)


def _table(folder: Path, variable: str, name: str) -> np.ndarray:
    """One comma-separated coefficient file as a 2-D float64 array."""
    return np.loadtxt(folder / variable / f"{variable}_{name}", delimiter=",", ndmin=2)


def network_source(folder: Path, auxdata: str | None) -> NetworkSource:
    """Provenance of the coefficient files of every variable under `folder`."""
    digest = hashlib.sha256()
    for variable in VARIABLES.values():
        for name in _FILES:
            path = folder / variable / f"{variable}_{name}"
            if path.is_file():
                digest.update(path.read_bytes())
    if auxdata is None:
        origin = f"{PACKAGE} {importlib.metadata.version(PACKAGE)} ({'/'.join(PACKAGE_FOLDER)})"
    else:
        origin = str(folder)
    return NetworkSource(folder, origin, digest.hexdigest())


@dataclass(frozen=True)
class Network:
    """One variable's network and its definition domain, evaluated on pixel arrays."""

    variable: str
    input_low: np.ndarray  # (11,) normalisation minimum of each input
    input_high: np.ndarray  # (11,)
    output_low: float  # denormalisation
    output_high: float
    hidden_weights: np.ndarray  # (neurons, 11)
    hidden_bias: np.ndarray  # (neurons,)
    output_weights: np.ndarray  # (neurons,)
    output_bias: float
    tolerance: float
    valid_min: float
    valid_max: float
    domain_low: np.ndarray  # (8,) reflectance definition domain
    domain_high: np.ndarray  # (8,)
    domain_cells: np.ndarray  # sorted int64 keys of the grid cells in the domain

    @classmethod
    def load(cls, folder: Path, variable: str) -> Network:
        """The network of `variable` (LAI, FAPAR, FCOVER) from its files in `folder`."""
        if not (folder / variable / f"{variable}_Normalisation").is_file():
            raise ConfigError(f"no {variable} network in {folder}")
        norm = _table(folder, variable, "Normalisation")
        denorm = _table(folder, variable, "Denormalisation")[0]
        extreme = _table(folder, variable, "ExtremeCases")[0]
        domain = _table(folder, variable, "DefinitionDomain_MinMax")
        grid = _table(folder, variable, "DefinitionDomain_Grid").astype(np.int64)
        return cls(
            variable=variable,
            input_low=norm[:, 0],
            input_high=norm[:, 1],
            output_low=float(denorm[0]),
            output_high=float(denorm[1]),
            hidden_weights=_table(folder, variable, "Weights_Layer1_Neurons"),
            hidden_bias=_table(folder, variable, "Weights_Layer1_Bias").ravel(),
            output_weights=_table(folder, variable, "Weights_Layer2_Neurons").ravel(),
            output_bias=float(_table(folder, variable, "Weights_Layer2_Bias")[0, 0]),
            tolerance=abs(float(extreme[0])),
            valid_min=float(extreme[1]),
            valid_max=float(extreme[2]),
            domain_low=domain[0],
            domain_high=domain[1],
            domain_cells=np.unique(_cell_keys(grid - 1)),
        )

    def evaluate(
        self, inputs: np.ndarray, outside: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Values and quality flags of pixels `inputs` (11, n): the 8 reflectances in
        INPUT_BANDS order, cos(view zenith), cos(sun zenith), cos(relative azimuth). Values
        are NaN where the output is out of range (OUTPUT_TOO_*); input-domain failures are
        flagged only, as SNAP keeps their values. `outside`: the input-domain test when
        already computed for a network of the same domain (`same_domain`)."""
        scale = 2.0 / (self.input_high - self.input_low)
        weights = self.hidden_weights * scale  # normalisation folded into the weights
        bias = self.hidden_bias - weights @ self.input_low - self.hidden_weights.sum(axis=1)
        # Denormalisation folded into the output neuron; arithmetic in the inputs' dtype.
        half_range = 0.5 * (self.output_high - self.output_low)
        out_weights = (self.output_weights * half_range).astype(inputs.dtype)
        out_bias = (self.output_bias + 1.0) * half_range + self.output_low
        hidden = weights.astype(inputs.dtype) @ inputs
        hidden += bias.astype(inputs.dtype)[:, None]
        np.tanh(hidden, out=hidden)
        values = out_weights @ hidden
        values += inputs.dtype.type(out_bias)
        if outside is None:
            outside = self.outside_domain(inputs[: len(INPUT_BANDS)])
        flags = outside.astype(np.uint8) * np.uint8(INPUT_OUT_OF_DOMAIN)
        low = self.valid_min - self.tolerance
        flags[(values < self.valid_min) & (values >= low)] |= OUTPUT_CLAMPED_LOW
        flags[values < low] |= OUTPUT_TOO_LOW
        flags[values > self.valid_max] |= OUTPUT_TOO_HIGH
        values = np.maximum(values, self.valid_min)
        values[(flags & (OUTPUT_TOO_LOW | OUTPUT_TOO_HIGH)) != 0] = np.nan
        return values, flags

    def same_domain(self, other: Network) -> bool:
        """True when both networks share one input definition domain (ESA's files do)."""
        return (
            np.array_equal(self.domain_low, other.domain_low)
            and np.array_equal(self.domain_high, other.domain_high)
            and np.array_equal(self.domain_cells, other.domain_cells)
        )

    def outside_domain(self, reflectance: np.ndarray) -> np.ndarray:
        """True where reflectances (8, n) leave the min/max box or fall in a grid cell the
        training data never reached. Band by band, in the reflectances' dtype."""
        outside = np.zeros(reflectance.shape[1], bool)
        keys = np.zeros(reflectance.shape[1], np.int32)
        for band, values in enumerate(reflectance):
            low, high = self.domain_low[band], self.domain_high[band]
            outside |= values < low
            outside |= values > high
            cells = (values - values.dtype.type(low)) * values.dtype.type(GRID_CELLS / (high - low))
            np.floor(cells, out=cells)
            np.clip(cells, 0, GRID_CELLS - 1, out=cells)
            keys += cells.astype(np.int32) * np.int32(GRID_CELLS**band)
        found = np.searchsorted(self.domain_cells, keys)
        np.minimum(found, len(self.domain_cells) - 1, out=found)
        outside |= self.domain_cells[found] != keys
        return outside


def _cell_keys(cells: np.ndarray) -> np.ndarray:
    """One integer per row of 0-based grid cells (n, 8): the cells as base-10 digits (band
    b the digit of 10**b), as `outside_domain` forms them."""
    powers = GRID_CELLS ** np.arange(cells.shape[1], dtype=np.int64)
    return cells @ powers


def angle_inputs(
    sun_zenith: float, view_zenith: float, sun_azimuth: float, view_azimuth: float
) -> np.ndarray:
    """The three angle inputs (degrees in): cos(view zenith), cos(sun zenith),
    cos(relative azimuth), as SNAP's BiophysicalOp forms them."""
    radians = np.radians([view_zenith, sun_zenith, sun_azimuth - view_azimuth])
    return np.cos(radians)


def load_networks(auxdata: str | None) -> tuple[dict[str, Network], NetworkSource]:
    """The networks of every variable ESA's auxdata has, and where they came from."""
    folder = locate(auxdata)
    networks = {
        name: Network.load(folder, variable)
        for name, variable in VARIABLES.items()
        if (folder / variable / f"{variable}_Normalisation").is_file()
    }
    return networks, network_source(folder, auxdata)
