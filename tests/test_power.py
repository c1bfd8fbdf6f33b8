# SPDX-License-Identifier: Apache-2.0
"""The dynamic-power model: the shipped YAML loads, every device maps to a family, every
coefficient has a source (a reason where it is null), and errors name 'power'."""

from __future__ import annotations

import doctest

import pytest
import yaml

import half.hw.power as power_module
from half.errors import ConfigError
from half.hw.devices import load_catalog
from half.hw.power import (
    COEFFICIENTS,
    PowerCoefficients,
    get_power_coefficients,
    load_power_models,
    power_families,
)

FAMILIES = ["ice40up", "ecp5", "nexus", "xc7", "zynqmp"]


@pytest.fixture(scope="module")
def models() -> dict[str, PowerCoefficients]:
    return load_power_models()


def test_the_five_families_load(models):
    assert sorted(models) == sorted(FAMILIES) == sorted(power_families())
    assert all(isinstance(m, PowerCoefficients) and m.family == f for f, m in models.items())
    assert {m.toggle_ref for m in models.values()} == {0.125}


def test_every_device_has_a_family_with_coefficients(models):
    for dev in load_catalog().values():
        assert dev.power_family in models, dev.name
        coeffs = dev.power_model()
        assert set(coeffs.coefficients()) == set(COEFFICIENTS)
        assert coeffs.vref_v > 0 and coeffs.bram_unit and coeffs.dsp_unit


def test_every_coefficient_has_a_source(models):
    for m in models.values():
        for name in (*COEFFICIENTS, "vref_v", "toggle_ref"):
            assert len(m.sources[name].strip()) > 20, (m.family, name)
        for name in m.missing():  # a null value says why
            assert m.sources[name].startswith("null:"), (m.family, name)
        for name in m.estimate:  # a derived value shows its arithmetic (0: a stated convention)
            assert m.sources[name].startswith("Derived"), (m.family, name)
            if getattr(m, name):
                assert any(op in m.sources[name] for op in ("/", " x ", "=")), (m.family, name)


def test_values_found_and_values_missing(models):
    assert models["ice40up"].missing() == ("bram",)
    assert models["zynqmp"].missing() == ("dsp",)
    assert models["xc7"].missing() == ()
    assert models["ecp5"].missing() == models["nexus"].missing() == COEFFICIENTS
    assert models["ice40up"].clock_per_ff == pytest.approx(27.8 * 1.219 / 196 / 12, rel=0.01)
    assert models["xc7"].bram == pytest.approx(3000 / (2 * 50))


def test_unknown_family_raises_config_error_naming_power():
    with pytest.raises(ConfigError) as err:
        get_power_coefficients("virtex2")
    assert err.value.field == "power"
    assert "'virtex2'" in str(err.value) and "xc7" in str(err.value)


def _shipped() -> dict:
    return yaml.safe_load((power_module.resources.files("half.hw") / "power.yaml").read_text())


@pytest.mark.parametrize(
    ("edit", "field", "fault"),
    [
        (lambda r: r["xc7"]["sources"].pop("dsp"), "power.xc7.dsp", "no source"),
        (lambda r: r["xc7"]["coefficients"].update(lut=-1), "power.xc7.lut", ">= 0"),
        (lambda r: r["xc7"]["coefficients"].pop("ff"), "power.xc7.coefficients.ff", "missing"),
        (
            lambda r: r["xc7"]["coefficients"].update(uram=1.0),
            "power.xc7.coefficients.uram",
            "not a coefficient",
        ),
        (lambda r: r["xc7"]["coefficients"].update(lut=None), "power.xc7.lut", "null"),
        (lambda r: r["zynqmp"].update(toggle_ref=12.5), "power.zynqmp.toggle_ref", "fraction"),
        (lambda r: r["zynqmp"].update(vref_v=0), "power.zynqmp.vref_v", "positive"),
        (lambda r: r["ice40up"]["estimate"].update(bram=True), "power.ice40up.bram", "Derived"),
        (lambda r: r["ice40up"].update(notes="x"), "power.ice40up.notes", "not a power-model"),
        (lambda r: r["ecp5"].pop("dsp_unit"), "power.ecp5.dsp_unit", "missing"),
    ],
)
def test_malformed_power_model_names_family_and_field(tmp_path, edit, field, fault):
    raw = _shipped()
    edit(raw)
    path = tmp_path / "power.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_power_models(path)
    assert err.value.field == field
    assert fault in err.value.fault


def test_power_model_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("xc7: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML") as err:
        load_power_models(bad)
    assert err.value.field == "power"
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="must map family names"):
        load_power_models(empty)


def test_module_docstring_example_runs():
    assert doctest.testmod(power_module).failed == 0
