# SPDX-License-Identifier: Apache-2.0
"""The device catalog: the shipped YAML loads, every number has a source, checked datasheet facts
hold, and malformed catalogs fail with an error naming the device and the field."""

from __future__ import annotations

import doctest

import pytest
import yaml

import half.hw.devices as devices_module
from half.errors import ConfigError
from half.hw.devices import Device, get_device, load_catalog

NAMES = ["up5k", "ecp5-25k", "ecp5-45k", "ecp5-85k", "lifcl-40", "xc7z020", "zu3eg"]


@pytest.fixture(scope="module")
def catalog() -> dict[str, Device]:
    return load_catalog()


def test_all_seven_devices_load(catalog):
    assert sorted(catalog) == sorted(NAMES)
    assert all(isinstance(d, Device) and d.name == n for n, d in catalog.items())


def test_every_numeric_field_has_a_source(catalog):
    for dev in catalog.values():
        fields = dev.numeric_fields()
        assert {"luts", "ffs", "bram.count", "bram.bits", "dsp.count", "static_power_mw"} <= set(
            fields
        )
        for path in fields:
            assert len(dev.sources[path].strip()) > 20, (dev.name, path)
        for path, value in fields.items():  # a missing value says why in its source
            if value is None:
                assert "null" in dev.sources[path] or "not" in dev.sources[path], (dev.name, path)


def test_estimates_explain_their_derivation(catalog):
    for dev in catalog.values():
        for path in dev.estimate:
            assert dev.sources[path].startswith("Derived"), (dev.name, path)


# Facts checked while writing the catalog against tool device databases and reports that were
# actually read (nextpnr utilisation, Vivado report_utilization, Diamond/Radiant map reports).
@pytest.mark.parametrize(
    ("name", "luts", "ffs", "bram", "dsp"),
    [
        ("up5k", 5280, 5280, (30, 4096), ("SB_MAC16", 8, 16, 16)),
        ("ecp5-25k", 24288, 24288, (56, 18432), ("MULT18X18D", 28, 18, 18)),
        ("ecp5-45k", 43848, 43848, (108, 18432), ("MULT18X18D", 72, 18, 18)),
        ("ecp5-85k", 83640, 83640, (208, 18432), ("MULT18X18D", 156, 18, 18)),
        ("xc7z020", 53200, 106400, (140, 36864), ("DSP48E1", 220, 25, 18)),
        ("zu3eg", 70560, 141120, (216, 36864), ("DSP48E2", 360, 27, 18)),
    ],
)
def test_checked_datasheet_facts(name, luts, ffs, bram, dsp):
    dev = get_device(name)
    assert (dev.luts, dev.ffs) == (luts, ffs)
    assert (dev.bram.count, dev.bram.bits) == bram
    assert dev.dsp.kind.startswith(dsp[0])
    assert (dev.dsp.count, dev.dsp.a_bits, dev.dsp.b_bits) == dsp[1:]


def test_lut_widths_and_large_rams():
    assert {get_device(n).lut_inputs for n in NAMES if n.startswith(("up", "ecp5", "lifcl"))} == {4}
    assert get_device("xc7z020").lut_inputs == get_device("zu3eg").lut_inputs == 6
    spram = get_device("up5k").large_ram
    assert (spram.count, spram.bits, spram.configs) == (4, 256 * 1024, ((16384, 16),))
    assert get_device("lifcl-40").large_ram.bits == 16384 * 32  # LRAM, yosys lrams.txt
    assert get_device("ecp5-85k").large_ram is None and get_device("zu3eg").large_ram is None
    assert (256, 16) in get_device("up5k").bram.configs
    assert (512, 36) in get_device("ecp5-25k").bram.configs  # PDPW16KD
    assert (512, 72) in get_device("xc7z020").bram.configs  # RAMB36 simple dual-port


def test_unchecked_values_are_flagged_not_silent():
    nx = get_device("lifcl-40")
    assert {"luts", "bram.count", "dsp.count", "large_ram.count"} <= nx.unverified
    assert nx.static_power_mw is None and nx.clock_max_mhz is None
    assert get_device("ecp5-45k").static_power_mw is None  # no 45F standby current was found
    assert get_device("up5k").estimate == {"static_power_mw", "clock_max_mhz"}
    for name in NAMES:
        dev = get_device(name)
        if dev.static_power_mw is not None:
            assert "static_power_mw" in dev.estimate  # no vendor states these directly


def test_static_power_derivations():
    # ECP5: data-sheet typical standby currents x nominal rails (85F: VCC + VCCAUX; 25F: VCC only)
    assert get_device("ecp5-85k").static_power_mw == pytest.approx(0.212 * 1100 + 0.026 * 2500)
    assert get_device("ecp5-25k").static_power_mw == pytest.approx(0.077 * 1100)
    assert "VCCAUX" in get_device("ecp5-25k").static_power_conditions
    zu = get_device("zu3eg")  # Vivado "PL Static", PS excluded
    assert zu.static_power_mw == 217 and "PS static" in zu.static_power_conditions


def test_every_device_has_a_power_family():
    expected = {"up5k": "ice40up", "ecp5-25k": "ecp5", "ecp5-45k": "ecp5", "ecp5-85k": "ecp5",
                "lifcl-40": "nexus", "xc7z020": "xc7", "zu3eg": "zynqmp"}
    for name, family in expected.items():
        dev = get_device(name)
        assert dev.power_family == family
        assert dev.power_model().family == family


def test_toolchain_mapping():
    assert get_device("up5k").toolchain.nextpnr_args == ("--up5k", "--package", "sg48")
    assert get_device("ecp5-25k").toolchain.nextpnr_args == ("--25k", "--package", "CABGA256")
    nx = get_device("lifcl-40").toolchain
    assert (nx.yosys_synth, nx.nextpnr) == ("synth_nexus", "nextpnr-nexus")
    assert nx.nextpnr_args == ("--device", "LIFCL-40-9BG400C")
    for name in ("xc7z020", "zu3eg"):
        tc = get_device(name).toolchain
        assert tc.yosys_synth.startswith("synth_xilinx") and tc.nextpnr is None


def test_unknown_device_names_the_field_and_lists_known():
    with pytest.raises(ConfigError) as err:
        get_device("xc7a35t")
    assert err.value.field == "device"
    assert "'xc7a35t'" in str(err.value) and "up5k" in str(err.value)


def test_to_dict_round_trips_through_the_loader(tmp_path, catalog):
    path = tmp_path / "devices.yaml"
    path.write_text(yaml.safe_dump({n: d.to_dict() for n, d in catalog.items()}))
    again = load_catalog(path)
    assert again == catalog
    assert all(again[n].sources == catalog[n].sources for n in catalog)


def _shipped() -> dict:
    return {n: d.to_dict() for n, d in load_catalog().items()}


@pytest.mark.parametrize(
    ("edit", "field", "fault"),
    [
        (lambda r: r["ecp5-45k"]["sources"].pop("dsp.count"), "ecp5-45k.dsp.count", "no source"),
        (lambda r: r["up5k"]["sources"].update(luts="  "), "up5k.luts", "no source"),
        (lambda r: r["zu3eg"]["bram"].update(count=-216), "zu3eg.bram.count", "positive"),
        (lambda r: r["xc7z020"].update(luts=0), "xc7z020.luts", "positive"),
        (lambda r: r["up5k"]["large_ram"].update(bits="256k"), "up5k.large_ram.bits", "positive"),
        (lambda r: r["ecp5-85k"].update(ffs=None), "ecp5-85k.ffs", "required"),
        (lambda r: r["up5k"]["bram"].update(configs=["512x16"]), "up5k.bram.configs", "exceeds"),
        (lambda r: r["up5k"]["bram"].update(configs=["wide"]), "up5k.bram.configs", "DEPTHx"),
        (lambda r: r["lifcl-40"]["dsp"].pop("a_bits"), "lifcl-40.dsp.a_bits", "missing"),
        (lambda r: r["up5k"].update(lut_inputs=5), "up5k.lut_inputs", "4 or 6"),
        (lambda r: r["up5k"]["estimate"].update(static_pwr=True), "up5k.estimate.static_pwr",
         "no numeric field"),
        (lambda r: r["zu3eg"].update(clock_typical_mhz=400), "zu3eg.clock_typical_mhz", "exceeds"),
        (lambda r: r["up5k"].update(urams=4), "up5k.urams", "not a catalog field"),
        (lambda r: r["xc7z020"].update(power_family="xc6"), "xc7z020.power_family",
         "unknown power family"),
        (lambda r: r["zu3eg"].pop("power_family"), "zu3eg.power_family", "missing"),
    ],
)
def test_malformed_catalog_names_device_and_field(tmp_path, edit, field, fault):
    raw = _shipped()
    edit(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_catalog(path)
    assert err.value.field == field
    assert fault in err.value.fault


def test_catalog_file_errors(tmp_path):
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("up5k: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_catalog(bad_yaml)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="must map device names"):
        load_catalog(empty)


def test_module_docstring_example_runs():
    assert doctest.testmod(devices_module).failed == 0
