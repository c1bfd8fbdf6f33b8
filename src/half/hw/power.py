# SPDX-License-Identifier: Apache-2.0
"""Dynamic-power coefficients per FPGA family: typed, checked records read from `power.yaml` next
to this module, the only place the numbers live (its header documents the model, the units and the
12.5 % reference toggle rate). Each device of `devices.yaml` names its family (`power_family`).
`power_model(device)` is a device's record with its unknown coefficients borrowed from related
families (`BORROW`), what the cost model's power and energy estimates use.

    >>> from half.hw.power import get_power_coefficients
    >>> get_power_coefficients("xc7").toggle_ref
    0.125
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from half._io import read_yaml_mapping
from half.errors import ConfigError

if TYPE_CHECKING:
    from half.hw.devices import Device

POWER_MODEL = "power.yaml"
COEFFICIENTS = ("lut", "ff", "bram", "dsp", "clock_per_ff")  # uW per MHz per unit
_SCALARS = ("vref_v", "toggle_ref")
_TEXT = ("description", "bram_unit", "dsp_unit")


@dataclass(frozen=True)
class PowerCoefficients:
    """One family's coefficients, uW per MHz per unit at `toggle_ref` and `vref_v` (None: unknown,
    the source says why)."""

    family: str
    description: str
    vref_v: float  # supply the coefficients were obtained at, V
    toggle_ref: float  # reference toggle rate of lut/ff/dsp (transitions per net per cycle)
    bram_unit: str  # what one `bram` unit is, e.g. "BRAM36 tile (RAMB36E1)"
    dsp_unit: str
    lut: float | None  # per LUT, routing included
    ff: float | None  # per flip-flop, data part
    bram: float | None  # per block RAM at 100 % enable
    dsp: float | None  # per hard multiplier block
    clock_per_ff: float | None  # clock network per flip-flop, independent of toggle rate
    sources: dict[str, str] = field(compare=False, hash=False)  # field -> citation
    estimate: frozenset[str] = frozenset()  # fields derived rather than read off a vendor table

    def __post_init__(self) -> None:
        def bad(path: str, fault: str) -> ConfigError:
            return ConfigError(f"power.{self.family}.{path}", fault)

        for name in _SCALARS:
            value = getattr(self, name)
            if not (_is_number(value) and value > 0):
                raise bad(name, f"must be a positive number, got {value!r}")
        if self.toggle_ref > 1:
            raise bad("toggle_ref", f"is a fraction of cycles (<= 1), got {self.toggle_ref!r}")
        for name in COEFFICIENTS:
            value = getattr(self, name)
            if value is not None and not (_is_number(value) and value >= 0):
                raise bad(name, f"must be a number >= 0 or null, got {value!r}")
        for name in (*_SCALARS, *COEFFICIENTS):
            text = self.sources.get(name, "").strip()
            if not text:
                raise bad(name, "has no source (add one under sources)")
            if getattr(self, name) is None and not text.startswith("null"):
                raise bad(name, "is null but its source does not start with 'null: <reason>'")
        for key in sorted(set(self.sources) - {*_SCALARS, *COEFFICIENTS}):
            raise bad(f"sources.{key}", "names no coefficient")
        for key in sorted(self.estimate):
            if key not in (*_SCALARS, *COEFFICIENTS):
                raise bad(f"estimate.{key}", "names no coefficient")
            if not self.sources[key].startswith("Derived"):
                raise bad(key, "is an estimate but its source does not start with 'Derived'")

    def coefficients(self) -> dict[str, float | None]:
        """The five coefficients by name (uW per MHz per unit)."""
        return {name: getattr(self, name) for name in COEFFICIENTS}

    def missing(self) -> tuple[str, ...]:
        """Coefficients without a value (no family-specific figure was found)."""
        return tuple(name for name, value in self.coefficients().items() if value is None)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _record(family: str, raw: Any) -> PowerCoefficients:
    where = f"power.{family}"
    if not isinstance(raw, dict):
        raise ConfigError(where, f"must be a mapping, got {raw!r}")
    keys = {*_TEXT, *_SCALARS, "coefficients", "sources", "estimate"}
    if unknown := set(raw) - keys:
        raise ConfigError(f"{where}.{sorted(unknown)[0]}", "is not a power-model field")
    if missing := keys - {"estimate"} - set(raw):
        raise ConfigError(f"{where}.{sorted(missing)[0]}", "is missing")
    coeffs, sources, flags = raw["coefficients"], raw["sources"], raw.get("estimate") or {}
    for name, block in (("coefficients", coeffs), ("sources", sources), ("estimate", flags)):
        if not isinstance(block, dict):
            raise ConfigError(f"{where}.{name}", f"must be a mapping, got {block!r}")
    if unknown := set(coeffs) - set(COEFFICIENTS):
        raise ConfigError(f"{where}.coefficients.{sorted(unknown)[0]}", "is not a coefficient")
    if missing := set(COEFFICIENTS) - set(coeffs):
        name = sorted(missing)[0]
        raise ConfigError(f"{where}.coefficients.{name}", "is missing (null if unknown)")
    return PowerCoefficients(
        family=family,
        **{name: str(raw[name]) for name in _TEXT},
        **{name: raw[name] for name in _SCALARS},
        **{name: coeffs[name] for name in COEFFICIENTS},
        sources={str(k): str(v) for k, v in sources.items()},
        estimate=frozenset(str(k) for k, on in flags.items() if on),
    )


def load_power_models(path: str | Path | None = None) -> dict[str, PowerCoefficients]:
    """Every family in the power model (`power.yaml` next to this module unless `path` is given)."""
    where = POWER_MODEL if path is None else str(path)
    file = resources.files("half.hw") / POWER_MODEL if path is None else Path(path)
    raw = read_yaml_mapping(file, where, "power", "family names")
    return {str(family): _record(str(family), record) for family, record in raw.items()}


@functools.cache
def _default_models() -> dict[str, PowerCoefficients]:
    return load_power_models()


def power_families() -> tuple[str, ...]:
    """The family names of the shipped power model."""
    return tuple(_default_models())


def get_power_coefficients(family: str) -> PowerCoefficients:
    """The shipped record of `family` (e.g. "ice40up", "xc7"); ConfigError "power" if unknown."""
    models = _default_models()
    if family not in models:
        known = ", ".join(models)
        raise ConfigError("power", f"unknown power family {family!r} (known: {known})")
    return models[family]


# Where a family's coefficient is unknown (null in power.yaml), borrow it from a related family,
# as a labelled cross-family estimate: ECP5 and CrossLink-NX from the iCE40 UltraPlus
# measurements (Lattice LUT4 fabrics, 40 nm and 28 nm), UltraScale+ from 7-series, and block RAM
# per bit from 7-series BRAM36 (iCE40 has no measurement). Block RAM is scaled by bits per block.
BORROW = {"ecp5": ("ice40up", "xc7"), "nexus": ("ice40up", "xc7"), "zynqmp": ("xc7",),
          "ice40up": ("xc7",), "xc7": ()}
BRAM_BITS = {"ice40up": 4096, "ecp5": 18432, "nexus": 18432, "xc7": 36864, "zynqmp": 36864}


def power_model(dev: Device, notes: list[str] | None = None) -> PowerCoefficients:
    """The device family's dynamic-power coefficients (µW per MHz per resource), unknown ones
    borrowed per BORROW (each borrowing appended to `notes`): what the cost model's power and
    energy estimates use."""
    own = dev.power_model()  # the family's own record, nulls included
    filled = {}
    for name in COEFFICIENTS:
        if getattr(own, name) is not None:
            continue
        for donor_family in BORROW.get(own.family, ()):
            donor = get_power_coefficients(donor_family)
            value = getattr(donor, name)
            if value is None:
                continue
            if name == "bram":
                value *= BRAM_BITS.get(own.family, 0) / BRAM_BITS[donor_family]
            filled[name] = value
            if notes is not None:
                notes.append(f"{own.family} {name} power coefficient unknown: borrowed from "
                             f"{donor_family} (cross-family estimate)")
            break
        else:
            if notes is not None:
                notes.append(f"{own.family} {name} power coefficient unknown: counted as 0")
    return dataclasses.replace(own, **filled) if filled else own


__all__ = [
    "BORROW",
    "BRAM_BITS",
    "COEFFICIENTS",
    "POWER_MODEL",
    "PowerCoefficients",
    "get_power_coefficients",
    "load_power_models",
    "power_families",
    "power_model",
]
