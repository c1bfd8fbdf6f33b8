# SPDX-License-Identifier: Apache-2.0
"""Bad input: a one-line error naming the file and the fault, a non-zero exit, no partial cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import run_half


def _no_partial_output(cache: Path) -> None:
    prepared = cache / "prepared"
    left = [p for p in prepared.rglob("*")] if prepared.exists() else []
    assert not [p for p in left if p.is_file()], left


def _fails(args, cache: Path, *must_contain: str) -> str:
    proc = run_half(*args, env={"HALF_CACHE_DIR": str(cache)})
    assert proc.returncode != 0
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for text in must_contain:
        assert text in lines[0], lines[0]
    _no_partial_output(cache)
    return lines[0]


def test_missing_data_folder(tmp_path):
    _fails(["--data-dir", str(tmp_path / "nowhere"), "data", "prepare"], tmp_path / "c",
           str(tmp_path / "nowhere"), "does not exist")


def test_data_folder_without_the_dataset(tmp_path):
    (tmp_path / "d").mkdir()
    _fails(["--data-dir", str(tmp_path / "d"), "data", "prepare"], tmp_path / "c",
           "mitdb", "missing folder")


@pytest.mark.parametrize("ext,fault", [("atr", "missing annotation file"),
                                       ("dat", "missing signal file")])
def test_record_without_its_file(make_mitdb, tmp_path, ext, fault):
    root = make_mitdb((101, 100))
    os.unlink(root / "mitdb" / f"101.{ext}")
    _fails(["--data-dir", str(root), "data", "prepare"], tmp_path / "c", f"101.{ext}", fault)


def test_truncated_dat(make_mitdb, tmp_path):
    root = make_mitdb((101, 100), copy=("100.dat",))
    dat = root / "mitdb" / "100.dat"
    dat.write_bytes(dat.read_bytes()[:100_000])
    _fails(["--data-dir", str(root), "data", "prepare"], tmp_path / "c", "100.dat", "truncated")


def test_corrupt_header(make_mitdb, tmp_path):
    root = make_mitdb((101, 100), copy=("100.hea",))
    (root / "mitdb" / "100.hea").write_text("100 2 three-hundred-sixty 650000\nrubbish\n")
    _fails(["--data-dir", str(root), "data", "prepare"], tmp_path / "c", "100.hea",
           "corrupt header")


def test_corrupt_annotation_file(make_mitdb, tmp_path):
    root = make_mitdb((101, 100), copy=("100.atr",))
    (root / "mitdb" / "100.atr").write_bytes(b"\xff" * 37)
    _fails(["--data-dir", str(root), "data", "prepare"], tmp_path / "c", "100.atr")


def test_unknown_task(tmp_path):
    _fails(["data", "prepare", "--task", "mitdb-xyz"], tmp_path / "c", "unknown task", "mitdb-xyz")


def test_unknown_and_bad_parameters(tmp_path):
    _fails(["data", "prepare", "-p", "windw=300"], tmp_path / "c", "windw", "unknown parameter")
    _fails(["data", "prepare", "-p", "window=abc"], tmp_path / "c", "window", "expected int")
    _fails(["data", "prepare", "-p", "before=400"], tmp_path / "c", "before")
    _fails(["data", "prepare", "-p", "val_records=100"], tmp_path / "c", "val_records", "DS1")


def test_window_longer_than_the_record(make_mitdb, make_cinc, tmp_path):
    root = make_mitdb((100,))
    _fails(["--data-dir", str(root), "data", "prepare", "-p", "window=700000"], tmp_path / "c",
           "100.dat", "longer than the record")


def test_cinc_window_longer_than_the_record_without_padding(make_cinc, tmp_path):
    root = make_cinc(5)
    _fails(["--data-dir", str(root), "data", "prepare", "--task", "cinc2017-af",
            "-p", "window=30000", "-p", "pad=false"], tmp_path / "c", ".mat",
           "longer than the record")


def test_cinc_bad_label(make_cinc, tmp_path):
    root = make_cinc(5)
    ref = root / "cinc2017" / "REFERENCE-v3.csv"
    ref.write_text(ref.read_text().replace(",N", ",X", 1).replace(",A", ",X", 1))
    _fails(["--data-dir", str(root), "data", "prepare", "--task", "cinc2017-af"], tmp_path / "c",
           "REFERENCE-v3.csv", "unknown label")


def test_bad_highpass_names_the_field():
    from half.data import get_task
    from half.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        get_task("mitdb-aami", highpass=200.0)
    assert err.value.field == "highpass"
