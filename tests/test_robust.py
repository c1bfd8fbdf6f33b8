# SPDX-License-Identifier: Apache-2.0
"""Preprocessing that makes recordings comparable (half.data.preprocess), the nstdb noise split
(half.data.noise) and the device-mimicking augmenter (half.nn.augment)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy.signal import butter, sosfilt, sosfilt_zi

from conftest import REPO
from half.data import get_task
from half.data.mitdb import AAMI
from half.data.noise import load_noise, power
from half.data.preprocess import highpass, normalize, prepare, record_amplitude
from half.errors import ConfigError, DataError
from half.nn.augment import KINDS, AugmentConfig, Augmenter
from half.nn.train import TrainConfig, train

# preset:tiny of mitdb-aami as shipped before the preprocessing parameters existed (kept for the
# calibration data it was measured on)
PRESET = REPO / "benchmarks" / "results" / "calibration_models" / "mitdb-aami-tiny-3349b2d"


@pytest.fixture(scope="module")
def one_record(mitdb_subset) -> Path:
    return mitdb_subset((101,), "one-record")  # DS1: training windows


@pytest.fixture(scope="session")
def nstdb(shared_data) -> Path:
    if not (shared_data / "nstdb" / "em.hea").is_file():
        pytest.skip(f"nstdb noise records not found at {shared_data / 'nstdb'}")
    return shared_data


def _scaled(gain: float):
    return lambda sig, fs, rec: sig * gain


def test_record_normalisation_removes_the_device_gain(one_record):
    task = get_task("mitdb-aami", highpass=0.5, normalize="record")
    ref = task.load(one_record).x
    for gain in (0.5, 2.0):
        x = task.load(one_record, perturb=_scaled(gain)).x
        np.testing.assert_allclose(x, ref, rtol=1e-5, atol=1e-6)
    # the normalised R waves sit near NOMINAL_MV (1 mV), not at the record's own scale
    assert 0.5 < np.percentile(np.abs(ref), 99) < 2.0
    # without normalisation the gain goes straight through (so the check above can fail)
    plain = get_task("mitdb-aami", highpass=0.5)
    np.testing.assert_allclose(plain.load(one_record, perturb=_scaled(2.0)).x,
                               2 * plain.load(one_record).x, rtol=1e-5, atol=1e-5)


def test_normalize_scale_is_the_robust_amplitude():
    rng = np.random.default_rng(0)
    x = rng.normal(size=10_000)
    x[::200] = 50.0  # 0.5 % spikes: above the 99th percentile, so they barely move the scale
    amp = record_amplitude(x)
    assert 2.0 < amp < 3.5
    np.testing.assert_allclose(normalize(x, "record"), x / amp)
    assert normalize(x, "none") is x
    assert np.array_equal(normalize(np.zeros(5), "record"), np.zeros(5))
    with pytest.raises(ConfigError, match="normalize"):
        normalize(x, "beat")


def test_old_task_json_keeps_the_old_preprocessing(one_record):
    params = json.loads((PRESET / "task.json").read_text())["params"]
    assert "normalize" not in params  # written before the parameter existed
    task = get_task("mitdb-aami", **{**params, "val_records": ()})
    assert task.params.normalize == "none" and task.params.highpass == 0.5
    x = task.load(one_record).x
    # the preprocessing as it was written before half.data.preprocess: high-pass only
    rec = wfdb.rdrecord(str(one_record / "mitdb" / "101"), channels=[0])
    sig = rec.p_signal[:, 0]
    sos = butter(2, 0.5, btype="highpass", fs=360, output="sos")
    old = sosfilt(sos, sig, zi=sosfilt_zi(sos) * sig[0])[0]
    ann = wfdb.rdann(str(one_record / "mitdb" / "101"), "atr")
    beats = [s for s, y in zip(ann.sample, ann.symbol, strict=True) if y in AAMI]
    first = int(beats[1])  # away from the record's start (no edge padding)
    np.testing.assert_array_equal(x[1], old[first - 144:first + 216].astype(np.float32))
    cinc = get_task("cinc2017-af", fs=100, window=3000)
    assert (cinc.params.highpass, cinc.params.normalize) == (0.0, "none")
    sig = np.random.default_rng(1).normal(size=900)
    assert np.array_equal(prepare(sig, 300, 300), sig)


def test_bad_preprocessing_parameters_are_rejected():
    with pytest.raises(ConfigError, match="normalize"):
        get_task("cinc2017-af", normalize="window")
    with pytest.raises(ConfigError, match="highpass"):
        get_task("cinc2017-af", highpass=200)
    with pytest.raises(ConfigError, match="normalize"):
        get_task("mitdb-aami", normalize="yes")


def test_batched_highpass_equals_one_row_at_a_time():
    x = np.random.default_rng(2).normal(size=(3, 500)) + 5.0
    rows = np.stack([highpass(r, 360, 0.5) for r in x])
    np.testing.assert_allclose(highpass(x, 360, 0.5), rows, atol=1e-12)


def test_noise_halves_split_the_records_at_their_midpoint(nstdb):
    rec = wfdb.rdrecord(str(nstdb / "nstdb" / "em"))
    full = rec.p_signal.T.astype(np.float32)  # (2, 650000)
    mid = full.shape[1] // 2
    tr, te = load_noise("em", 360, "train", nstdb), load_noise("em", 360, "test", nstdb)
    assert tr.shape == (2, mid) and te.shape == (2, full.shape[1] - mid)
    np.testing.assert_allclose(tr, full[:, :mid], atol=1e-6)
    np.testing.assert_allclose(te, full[:, mid:], atol=1e-6)
    # resampled per half: the training half at 100 Hz depends on nothing past the midpoint
    assert load_noise("ma", 100, "train", nstdb).shape == (2, -(-mid * 100 // 360))
    with pytest.raises(DataError, match="part"):
        load_noise("em", 360, "all", nstdb)


def test_noise_augmentation_needs_nstdb(one_record):
    with pytest.raises(DataError, match="nstdb"):
        load_noise("em", 360, "train", one_record)  # an explicit folder without nstdb/
    # training goes on without the noise kinds, and says so
    from half.nn.augment import AugmentConfig, Augmenter

    data = get_task("mitdb-aami").load(one_record)
    with pytest.warns(UserWarning, match="nstdb.*training without the em augmentations"):
        aug = Augmenter.for_task(AugmentConfig(("gain", "em")), data)
    assert aug.cfg.kinds == ("gain",) and not aug.noise_kinds


def _windows(n: int = 64, length: int = 360, seed: int = 0) -> np.ndarray:
    """Beat-like windows: a narrow spike at sample 144 on a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length)
    x = np.exp(-0.5 * ((t - 144) / 4.0) ** 2)[None, :] * rng.uniform(0.5, 2.0, (n, 1))
    return (x + 0.02 * rng.normal(size=(n, length))).astype(np.float32)


def _fake_noise(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=(2, 20_000)).astype(np.float32) for k in ("bw", "em", "ma")}


def test_augmenter_is_deterministic_per_seed():
    aug = Augmenter(AugmentConfig(KINDS), 360, highpass_hz=0.5, anchor=144, noise=_fake_noise())
    x = _windows()
    a = aug(x, np.random.default_rng(7))
    b = aug(x, np.random.default_rng(7))
    c = aug(x, np.random.default_rng(8))
    assert a.dtype == np.float32 and a.shape == x.shape and np.isfinite(a).all()
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    assert not np.allclose(a, x)
    assert np.array_equal(x, _windows())  # the input is not modified


@pytest.mark.parametrize("snr", [0.0, 6.0, 18.0])
@pytest.mark.parametrize("hp", [0.0, 0.5])
def test_augmenter_adds_noise_at_the_requested_snr(snr, hp):
    cfg = AugmentConfig(("em",), p=1.0, snr_db=(snr, snr))
    aug = Augmenter(cfg, 360, highpass_hz=hp, noise=_fake_noise())
    x = _windows()
    added = aug(x, np.random.default_rng(0)).astype(np.float64) - x
    got = 10 * np.log10(power(x.astype(np.float64)) / power(added))
    np.testing.assert_allclose(got, snr, atol=1e-3)


def test_augmenter_draws_training_noise_only(monkeypatch, one_record):
    parts = []

    def spy(kind, fs, part, data_dir=None):
        parts.append(part)
        return _fake_noise()[kind]

    monkeypatch.setattr("half.nn.augment.load_noise", spy)
    data = get_task("mitdb-aami", highpass=0.5, normalize="record").load(one_record)
    aug = Augmenter.for_task(AugmentConfig(("bw", "em", "ma")), data)
    assert parts == ["train"] * 3
    assert (aug.highpass_hz, aug.anchor, aug.fs) == (0.5, 144, 360.0)


def test_unknown_or_unfit_augmentations_are_rejected():
    with pytest.raises(ConfigError, match="augment_kinds"):
        TrainConfig(augment_kinds=("gain", "reverb"))
    with pytest.raises(ConfigError, match="augment_p"):
        TrainConfig(augment_kinds=("gain",), augment_p=0.0)
    with pytest.raises(ConfigError, match="resample"):
        Augmenter(AugmentConfig(("resample",)), 100)
    with pytest.raises(ConfigError, match="em"):
        Augmenter(AugmentConfig(("em",)), 360)


def test_train_config_round_trips_and_old_files_load():
    cfg = TrainConfig(augment_kinds=("gain", "em"), augment_p=0.3, seed=4)
    back = TrainConfig(**json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert back == cfg and back.augment_kinds == ("gain", "em")
    old = TrainConfig(**json.loads((PRESET / "train_config.json").read_text()))
    assert old.augment_kinds == () and old.augment == 0.5


def test_training_with_augmentation_is_seeded(one_record):
    from half.nn.arch import Arch, ConvBlock, DenseLayer

    arch = Arch(window=360, n_classes=5, decimation=4, side_inputs=8,
                blocks=(ConvBlock(4, kernel=5, pool=4, weight_bits=4, act_bits=4),),
                dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=4)
    data = get_task("mitdb-aami", normalize="record").load(one_record)
    base = dict(epochs=1, stop_at=1, train_fraction=0.1, threads=1,
                augment_kinds=("stretch", "gain", "wander", "resample"))
    runs = [train(arch, data, TrainConfig(**base, seed=s)) for s in (0, 0)]
    plain = train(arch, data, TrainConfig(**{**base, "augment_kinds": ()}, seed=0))
    w = [r.model.state_dict()["head.0.weight"] for r in (*runs, plain)]
    assert np.array_equal(w[0].numpy(), w[1].numpy())
    assert not np.array_equal(w[0].numpy(), w[2].numpy())


# -- the noisy twin: whole records with real noise, so that side inputs see it too ---------------
@pytest.fixture(scope="module")
def record_and_noise(mitdb_subset, shared_data) -> Path:
    if not (shared_data / "nstdb" / "em.hea").is_file():
        pytest.skip(f"nstdb noise records not found at {shared_data / 'nstdb'}")
    folder = mitdb_subset((101,), "record-and-noise")
    (folder / "nstdb").symlink_to(shared_data / "nstdb")
    return folder


def test_record_noise_is_seeded_and_added_at_its_snr(nstdb):
    from half.data.noise import RecordNoise

    t = np.arange(60 * 360) / 360
    sig = np.sin(2 * np.pi * 1.2 * t) + 0.3 * np.sin(2 * np.pi * 7 * t)
    noisy = RecordNoise(seed=3, kinds=("em",), snr_db=(6, 6), data_dir=str(nstdb))
    out = noisy(sig, 360.0, "100")
    snr = 10 * np.log10(power(sig) / power(out - sig))
    assert snr == pytest.approx(6.0, abs=1e-6)
    assert np.array_equal(out, noisy(sig, 360.0, "100"))  # seeded
    assert not np.array_equal(out, noisy(sig, 360.0, "101"))  # each record its own segment
    other = RecordNoise(seed=4, kinds=("em",), snr_db=(6, 6), data_dir=str(nstdb))
    assert not np.array_equal(out, other(sig, 360.0, "100"))
    # a span of SNRs: the level moves between 10-s segments without a step
    mixed = RecordNoise(seed=3, snr_db=(0, 24), data_dir=str(nstdb))(sig, 360.0, "100") - sig
    per_segment = [10 * np.log10(power(sig) / power(mixed[i:i + 3600]))
                   for i in range(0, mixed.size, 3600)]
    assert max(per_segment) - min(per_segment) > 3  # the SNR differs between segments
    with pytest.raises(DataError, match="kinds"):
        RecordNoise(kinds=("hum",))


def test_noisy_twin_is_cached_and_aligned_window_by_window(record_and_noise):
    from half.data.noise import RecordNoise

    task = get_task("mitdb-aami", highpass=0.5, normalize="record", beat_template=True)
    clean = task.load(record_and_noise)
    noise = RecordNoise(seed=0, data_dir=str(record_and_noise))
    twin = task.load(record_and_noise, perturb=noise)
    assert twin.cache["used"] and not twin.cache["hit"] and twin.cache["key"] != clean.cache["key"]
    again = task.load(record_and_noise, perturb=noise)
    assert again.cache["hit"] and np.array_equal(again.x, twin.x)
    assert np.array_equal(clean.rows_in(twin), np.arange(len(clean)))
    assert not np.array_equal(twin.x, clean.x)
    assert np.array_equal(twin.side[:, :8], clean.side[:, :8])  # beats from the annotations
    assert not np.array_equal(twin.side[:, 8:], clean.side[:, 8:])  # templates see the noise
    part = dataclasses.replace(clean, x=clean.x[:10], y=clean.y[:10], split=clean.split[:10],
                               record=clean.record[:10], side=clean.side[:10])
    with pytest.raises(ConfigError, match="record 101"):
        part.rows_in(twin)  # not whole records


def test_training_with_a_noisy_twin_is_seeded_and_uses_it(record_and_noise):
    from half.nn.arch import Arch, ConvBlock, DenseLayer

    arch = Arch(window=360, n_classes=5, decimation=4, side_inputs=10,
                blocks=(ConvBlock(4, kernel=5, pool=4, weight_bits=4, act_bits=4),),
                dense=(DenseLayer(8, weight_bits=4, act_bits=4),), out_bits=4)
    data = get_task("mitdb-aami", normalize="record", beat_template=True).load(record_and_noise)
    base = dict(epochs=1, stop_at=1, train_fraction=0.2, threads=1)
    runs = [train(arch, data, TrainConfig(**base, noisy_twin=1.0)) for _ in (0, 1)]
    plain = train(arch, data, TrainConfig(**base))
    w = [r.model.state_dict()["head.0.weight"].numpy() for r in (*runs, plain)]
    assert np.array_equal(w[0], w[1])
    assert not np.array_equal(w[0], w[2])
    with pytest.raises(ConfigError, match="noisy_twin"):
        TrainConfig(noisy_twin=1.5)
