# SPDX-License-Identifier: Apache-2.0
"""`half.data.download`: real HTTP downloads from a local fake PhysioNet server."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest
import wfdb

from half.data.download import download
from half.errors import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OFFLINE_URL = "http://127.0.0.1:9/"  # discard port: nothing listens, the connection is refused


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("HALF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HALF_PHYSIONET_URL", raising=False)
    # Requests to the local server must not go through a proxy from the environment.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def shared() -> Path:
    if not (SHARED / "mitdb" / "100.dat").is_file():
        pytest.skip(f"real PhysioNet data not found at {SHARED}")
    return SHARED


@pytest.fixture
def server(tmp_path):
    """(root folder served, base URL) of an HTTP server on 127.0.0.1 in a background thread."""
    root = tmp_path / "server"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _serve_mitdb(root: Path, shared: Path, skip: str = "") -> Path:
    folder = root / "mitdb" / "1.0.0"
    folder.mkdir(parents=True)
    (folder / "RECORDS").write_text("100\n")
    for ext in ("hea", "dat", "atr"):
        if ext != skip:
            shutil.copyfile(shared / "mitdb" / f"100.{ext}", folder / f"100.{ext}")
    return folder


def _serve_cinc(root: Path, shared: Path, extra: str = "") -> Path:
    src = shared / "cinc2017"
    folder = root / "challenge-2017" / "1.0.0"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "training2017.zip", "w") as zf:
        for ext in ("hea", "mat"):
            zf.write(src / "training2017" / f"A00001.{ext}", f"training2017/A00001.{ext}")
        zf.writestr("training2017/RECORDS", "A00001\n")
        first = (src / "training2017" / "REFERENCE.csv").read_text().splitlines()[0]
        zf.writestr("training2017/REFERENCE.csv", first + "\n")
        if extra:
            zf.writestr(extra, "x")
    first = (src / "REFERENCE-v3.csv").read_text().splitlines()[0]
    (folder / "REFERENCE-v3.csv").write_text(first + "\n")
    return folder


def _assert_nothing_left(dest: Path) -> None:
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_mitdb_download(server, shared, tmp_path):
    root, url = server
    served = _serve_mitdb(root, shared)
    dest = tmp_path / "out" / "mitdb"
    calls = []
    got = download("mitdb", dest, base_url=url, progress=lambda *a: calls.append(a))
    assert got == dest
    for ext in ("hea", "dat", "atr"):
        assert (dest / f"100.{ext}").read_bytes() == (served / f"100.{ext}").read_bytes()
    assert not (dest / "ANNOTATORS").exists()  # 404 for the optional file is ignored
    assert wfdb.rdrecord(str(dest / "100")).sig_len == 650000
    assert calls and calls[-1][1] == calls[-1][2] == 4  # RECORDS + 3 record files
    assert [p.name for p in dest.parent.iterdir()] == ["mitdb"]  # no temp folder left


def test_default_dest_is_cache_and_complete_copy_is_reused(server, shared, tmp_path):
    root, url = server
    _serve_mitdb(root, shared)
    (root / "mitdb" / "1.0.0" / "ANNOTATORS").write_text("atr\treference beat annotations\n")
    dest = download("mitdb", base_url=url)
    assert dest == tmp_path / "cache" / "data" / "mitdb"
    assert (dest / "ANNOTATORS").is_file()
    # Complete already: returned without touching the network.
    assert download("mitdb", base_url=OFFLINE_URL) == dest
    # force=True downloads again; when that fails, the existing copy stays intact.
    with pytest.raises(DataError):
        download("mitdb", base_url=OFFLINE_URL, force=True, timeout=2)
    assert (dest / "100.dat").stat().st_size == 1950000
    assert sorted(p.name for p in dest.parent.iterdir()) == ["mitdb"]


def test_env_url(server, shared, tmp_path, monkeypatch):
    root, url = server
    _serve_mitdb(root, shared)
    monkeypatch.setenv("HALF_PHYSIONET_URL", url.rstrip("/"))
    dest = download("mitdb", tmp_path / "out" / "mitdb")
    assert (dest / "100.atr").is_file()


def test_cinc2017_download(server, shared, tmp_path):
    root, url = server
    served = _serve_cinc(root, shared)
    dest = download("cinc2017", tmp_path / "out" / "cinc2017", base_url=url)
    # the marker makes a later download --force replace it (and only a half dataset folder)
    assert sorted(p.name for p in dest.iterdir()) == [".half-artefact.json", "REFERENCE-v3.csv",
                                                      "training2017"]
    assert sorted(p.name for p in (dest / "training2017").iterdir()) == [
        "A00001.hea", "A00001.mat", "RECORDS", "REFERENCE.csv"]
    mat = shared / "cinc2017" / "training2017" / "A00001.mat"
    assert (dest / "training2017" / "A00001.mat").read_bytes() == mat.read_bytes()
    assert (dest / "REFERENCE-v3.csv").read_bytes() == (served / "REFERENCE-v3.csv").read_bytes()
    assert wfdb.rdrecord(str(dest / "training2017" / "A00001")).fs == 300


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "training2017/../../evil"])
def test_cinc2017_unsafe_zip_member(server, shared, tmp_path, member):
    root, url = server
    _serve_cinc(root, shared, extra=member)
    dest = tmp_path / "out" / "cinc2017"
    with pytest.raises(DataError, match="unsafe member name"):
        download("cinc2017", dest, base_url=url)
    _assert_nothing_left(dest)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()


def test_offline_fails_fast(tmp_path):
    dest = tmp_path / "out" / "mitdb"
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        download("mitdb", dest, base_url=OFFLINE_URL, timeout=2)
    assert time.monotonic() - start < 5
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    assert "http://127.0.0.1:9/mitdb/1.0.0/RECORDS" in msg
    assert "offline" in msg and "--data-dir" in msg and "HALF_DATA_DIR" in msg
    _assert_nothing_left(dest)


def test_silent_server_times_out(tmp_path):
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        dest = tmp_path / "out" / "cinc2017"
        start = time.monotonic()
        with pytest.raises(DataError, match="timed out"):
            download("cinc2017", dest, base_url=url, timeout=0.5)
        assert time.monotonic() - start < 5
    _assert_nothing_left(dest)


def test_missing_dat_is_an_error(server, shared, tmp_path):
    root, url = server
    _serve_mitdb(root, shared, skip="dat")
    dest = tmp_path / "out" / "mitdb"
    with pytest.raises(DataError, match="404") as info:
        download("mitdb", dest, base_url=url)
    assert f"{url}mitdb/1.0.0/100.dat" in str(info.value)
    _assert_nothing_left(dest)


def test_unknown_dataset(tmp_path):
    with pytest.raises(DataError, match="nosuchdb: unknown dataset; known: mitdb, cinc2017"):
        download("nosuchdb", tmp_path / "x")
    assert not (tmp_path / "x").exists()
