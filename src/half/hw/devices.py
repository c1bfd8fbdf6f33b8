# SPDX-License-Identifier: Apache-2.0
"""The FPGA device catalog: typed, checked records read from `devices.yaml` next to this module,
the only place the numbers live (its header documents schema, units, sources and flags).

    >>> from half.hw.devices import get_device
    >>> get_device("up5k").dsp.count
    8
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from half._io import read_yaml_mapping
from half.errors import ConfigError
from half.hw.power import PowerCoefficients, get_power_coefficients, power_families

CATALOG = "devices.yaml"
_NULLABLE = ("static_power_mw", "vcc_core_v", "clock_typical_mhz", "clock_max_mhz")
_FLAGS = ("estimate", "unverified")


@dataclass(frozen=True)
class Ram:
    kind: str  # vendor name and primitive, e.g. "EBR (DP16KD)"
    count: int  # blocks in the device
    bits: int  # bits per block, parity included
    configs: tuple[tuple[int, int], ...]  # usable (depth, width) of one block


@dataclass(frozen=True)
class Dsp:
    kind: str  # primitive, e.g. "DSP48E1"
    count: int  # instances of that primitive
    a_bits: int  # native multiplier operand widths (signed)
    b_bits: int


@dataclass(frozen=True)
class Toolchain:
    yosys_synth: str  # yosys synthesis command, e.g. "synth_ecp5"
    nextpnr: str | None  # None where nextpnr has no supported flow (AMD/Xilinx)
    nextpnr_args: tuple[str, ...] | None  # device/package arguments


@dataclass(frozen=True)
class Device:
    name: str
    vendor: str
    family: str
    part: str
    lut_inputs: int  # 4 (LUT4) or 6 (LUT6): the unit of `luts`
    luts: int
    ffs: int
    bram: Ram
    large_ram: Ram | None  # iCE40 SPRAM, Nexus LRAM; None where absent
    dsp: Dsp
    static_power_mw: float | None
    static_power_conditions: str
    vcc_core_v: float | None
    clock_typical_mhz: float | None
    clock_max_mhz: float | None  # practical pipelined-datapath ceiling, not the clock-tree limit
    toolchain: Toolchain
    power_family: str  # key of the dynamic-power coefficients in power.yaml (e.g. "ecp5")
    sources: dict[str, str] = field(compare=False, hash=False)  # field -> citation
    estimate: frozenset[str] = frozenset()  # fields derived rather than stated
    unverified: frozenset[str] = frozenset()  # fields whose document could not be checked

    def __post_init__(self) -> None:
        def bad(path: str, fault: str) -> ConfigError:
            return ConfigError(f"{self.name}.{path}", fault)

        if self.lut_inputs not in (4, 6):
            raise bad("lut_inputs", f"must be 4 or 6, got {self.lut_inputs!r}")
        if self.power_family not in (families := power_families()):
            known = ", ".join(families)
            fault = f"unknown power family {self.power_family!r} (known: {known})"
            raise bad("power_family", fault)
        values = self.numeric_fields()
        for path, value in values.items():
            if value is None and path not in _NULLABLE:
                raise bad(path, "is required")
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if value is not None and not (number and value > 0):
                raise bad(path, f"must be a positive number, got {value!r}")
            if not self.sources.get(path, "").strip():
                raise bad(path, "has no source (add one under sources)")
        for ram_name, ram in (("bram", self.bram), ("large_ram", self.large_ram)):
            for depth, width in ram.configs if ram else ():
                if depth * width > ram.bits:
                    raise bad(f"{ram_name}.configs", f"{depth}x{width} exceeds {ram.bits} bits")
        known = {*values, "bram.configs", "large_ram.configs", "part", "toolchain"}
        for group in ("sources", *_FLAGS):
            for key in sorted(set(getattr(self, group)) - known):
                raise bad(f"{group}.{key}", "names no numeric field of this device")
        lo, hi = self.clock_typical_mhz, self.clock_max_mhz
        if lo is not None and hi is not None and lo > hi:
            raise bad("clock_typical_mhz", f"{lo} exceeds clock_max_mhz {hi}")

    def power_model(self) -> PowerCoefficients:
        """The dynamic-power coefficients of this device's family (half/hw/power.yaml)."""
        return get_power_coefficients(self.power_family)

    def numeric_fields(self) -> dict[str, Any]:
        """Every numeric field by its dotted name (e.g. "bram.count"): the ones needing a source."""
        out = {k: getattr(self, k) for k in ("lut_inputs", "luts", "ffs", *_NULLABLE)}
        for ram_name in ("bram", "large_ram"):
            if (ram := getattr(self, ram_name)) is not None:
                out |= {f"{ram_name}.count": ram.count, f"{ram_name}.bits": ram.bits}
        return out | {f"dsp.{k}": getattr(self.dsp, k) for k in ("count", "a_bits", "b_bits")}

    def to_dict(self) -> dict[str, Any]:
        """The record in the catalog's YAML schema (plus `name`); `load_catalog` reads it back."""
        out = dataclasses.asdict(self)
        for ram in ("bram", "large_ram"):
            if out[ram] is not None:
                out[ram]["configs"] = [f"{d}x{w}" for d, w in out[ram]["configs"]]
        if out["toolchain"]["nextpnr_args"] is not None:
            out["toolchain"]["nextpnr_args"] = list(out["toolchain"]["nextpnr_args"])
        return out | {flag: {k: True for k in sorted(out[flag])} for flag in _FLAGS}


def _fields(where: str, raw: Any, keys: set[str] | None = None, optional: tuple = ()) -> dict:
    """`raw` as a mapping; with `keys`, holding exactly those (`optional` ones may be absent)."""
    if not isinstance(raw, dict):
        raise ConfigError(where, f"must be a mapping, got {raw!r}")
    if keys is not None and (unknown := set(raw) - keys):
        raise ConfigError(f"{where}.{sorted(unknown)[0]}", "is not a catalog field")
    if keys is not None and (missing := keys - set(optional) - set(raw)):
        raise ConfigError(f"{where}.{sorted(missing)[0]}", "is missing")
    return raw


def _ram(where: str, raw: Any) -> Ram:
    raw = _fields(where, raw, {f.name for f in dataclasses.fields(Ram)})
    configs = []
    for text in raw["configs"] or ():
        depth, _, width = str(text).partition("x")
        if not (depth.isdigit() and width.isdigit() and int(depth) and int(width)):
            raise ConfigError(f"{where}.configs", f"{text!r} is not DEPTHxWIDTH")
        configs.append((int(depth), int(width)))
    return Ram(str(raw["kind"]), raw["count"], raw["bits"], tuple(configs))


def _device(name: str, raw: Any) -> Device:
    raw = _fields(name, raw, {f.name for f in dataclasses.fields(Device)}, ("name", *_FLAGS))
    dsp = _fields(f"{name}.dsp", raw["dsp"], {f.name for f in dataclasses.fields(Dsp)})
    tools = _fields(f"{name}.toolchain", raw["toolchain"], {"yosys_synth", "nextpnr",
                                                            "nextpnr_args"})
    args, large, sources = tools["nextpnr_args"], raw["large_ram"], raw["sources"]
    kwargs = {**raw, "name": name, "bram": _ram(f"{name}.bram", raw["bram"]), "dsp": Dsp(**dsp)}
    kwargs["large_ram"] = None if large is None else _ram(f"{name}.large_ram", large)
    kwargs["toolchain"] = Toolchain(tools["yosys_synth"], tools["nextpnr"],
                                    None if args is None else tuple(map(str, args)))
    kwargs["sources"] = {str(k): str(v) for k, v in _fields(f"{name}.sources", sources).items()}
    for flag in _FLAGS:  # {field: true} -> the set of flagged fields
        marks = _fields(f"{name}.{flag}", raw.get(flag) or {})
        kwargs[flag] = frozenset(str(k) for k, on in marks.items() if on)
    return Device(**kwargs)


def load_catalog(path: str | Path | None = None) -> dict[str, Device]:
    """Every device in the catalog (`devices.yaml` next to this module unless `path` is given)."""
    where = CATALOG if path is None else str(path)
    file = resources.files("half.hw") / CATALOG if path is None else Path(path)
    raw = read_yaml_mapping(file, where, "device catalog", "device names")
    return {str(name): _device(str(name), record) for name, record in raw.items()}


@functools.cache
def _default_catalog() -> dict[str, Device]:
    return load_catalog()


def get_device(name: str) -> Device:
    """The catalog record for `name` (e.g. "up5k", "ecp5-85k", "xc7z020")."""
    catalog = _default_catalog()
    if name not in catalog:
        raise ConfigError("device", f"unknown device {name!r} (known: {', '.join(catalog)})")
    return catalog[name]


__all__ = ["CATALOG", "Device", "Dsp", "Ram", "Toolchain", "get_device", "load_catalog"]
