# SPDX-License-Identifier: Apache-2.0
"""Scale-out for real: a search shared by several processes on a real PostgreSQL server that
the test starts itself (initdb + pg_ctl in a temp folder, a unix socket only), one of them
killed mid-trial and the study resumed by another. Nothing here is mocked. The Ray backend is
tested in test_search.py (test_ray_backend, a private local Ray instance)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from half.errors import ConfigError
from half.search.study import open_storage

RECORDS = (101, 118, 100)  # as test_search.py: train, validation and test records of mitdb
TRIALS = 3  # the first two processes run the study to 3 finished trials, the third to 4
FAST = ["--fidelity", "0.05", "--epochs", "1", "--precheck", "bits", "--population", "2",
        "--workers", "1", "--heartbeat-interval", "1", "--grace-period", "2"]
HOW_TO_GET_IT = ("install Debian's postgresql package (apt-get install postgresql), put "
                 "initdb and pg_ctl on PATH, or set HALF_PG_BIN to their folder")


def test_dev_extras_bring_ray_and_a_postgresql_driver():
    """`pip install -e .[dev]` brings both, so that the Ray and PostgreSQL tests never skip."""
    import psycopg
    import ray

    assert ray.__version__ and psycopg.__version__


# -- a throwaway PostgreSQL server -----------------------------------------------------------
def _pg_bindir() -> Path | None:
    """The folder of initdb and pg_ctl: HALF_PG_BIN, PATH, then Debian's newest server."""
    if os.environ.get("HALF_PG_BIN"):
        return Path(os.environ["HALF_PG_BIN"])
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    debian = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "pg_ctl").is_file()]
    return max(debian, key=lambda d: int(d.parent.name), default=None) if debian else None


class Server:
    """A PostgreSQL server in `root`, reached through a unix socket there (no TCP port; user
    `half`, trusted). The server refuses to run as root: as root it runs as `postgres` (the
    user Debian's package makes), else `nobody`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="half-pg-"))  # short: a socket path is short
        self.as_user: dict = {}
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pw = pwd.getpwnam("nobody")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        res = subprocess.run([str(self.bindir / args[0]), *args[1:]], cwd=self.root,
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "LC_ALL": "C"}, **self.as_user)
        if res.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.is_file() else ""
            pytest.fail(f"{args[0]} failed ({res.returncode}): {res.stderr[-2000:]}\n{tail}")

    def start(self) -> Server:
        self._run("initdb", "-D", "data", "-U", "half", "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")
        # durability is not what is tested here: no fsync, so that the server is fast
        options = (f"-c listen_addresses='' -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "60", "-o", options,
                  "start")
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def connect(self, db: str = "postgres"):
        import psycopg

        return psycopg.connect(host=str(self.root), user="half", dbname=db, autocommit=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://half@/{db}?host={self.root}"

    def database(self, db: str) -> str:
        """A new, empty database; its SQLAlchemy URL."""
        with self.connect() as con:
            con.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)


@pytest.fixture(scope="module")
def postgres():
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").is_file():
        if os.environ.get("CI"):  # CI installs the server (.ci/run): never skip there
            pytest.fail(f"no PostgreSQL server found: {HOW_TO_GET_IT}")
        pytest.skip(f"no PostgreSQL server found: {HOW_TO_GET_IT}")
    server = Server(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def small_data(mitdb_subset) -> Path:
    return mitdb_subset(RECORDS, "scaleout-data")


def test_unreachable_postgresql_is_a_one_line_error(postgres):
    with pytest.raises(ConfigError, match=r"storage: cannot open .*does not exist"):
        open_storage(postgres.url("no_such_database"))


# -- two workers, one killed, a third resumes --------------------------------------------------
def _pid(driver: str) -> int:
    """The process id in a trial's `driver` attribute ("host:pid", set when it is asked)."""
    return int(driver.rsplit(":", 1)[1])


def _trials(con) -> dict[int, tuple[str, int | None]]:
    """number -> (state, pid of the process that runs it) of every trial in the database."""
    import psycopg

    try:
        rows = con.execute("SELECT t.number, t.state, u.value_json FROM trials t LEFT JOIN "
                           "trial_user_attributes u ON u.trial_id = t.trial_id "
                           "AND u.key = 'driver'").fetchall()
    except psycopg.errors.UndefinedTable:  # the first process has not made the schema yet
        return {}
    return {n: (s, None if v is None else _pid(json.loads(v))) for n, s, v in rows}


def _wait_for(con, cond, procs, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = cond(_trials(con))
        if found:
            return found
        for name, p in procs.items():
            assert p.poll() is None, f"worker {name} ended early ({p.returncode})"
        time.sleep(0.1)
    pytest.fail(f"not within {seconds} s: {what}")


def test_workers_share_a_postgresql_study_and_survive_a_kill(postgres, small_data, session_cache,
                                                             tmp_path):
    import optuna

    t0 = time.monotonic()
    url = postgres.database("shared")
    env = {**os.environ, "HALF_CACHE_DIR": str(session_cache)}
    procs: dict[str, subprocess.Popen] = {}

    def start(name: str, trials: int) -> subprocess.Popen:
        # every worker has its own output folder (as on another machine): the study, on the
        # server, is all they share
        args = [sys.executable, "-m", "half.search", "--storage", url, "--study", "shared",
                "--data-dir", str(small_data), "--trials", str(trials), *FAST,
                "-o", str(tmp_path / name), "--json"]
        with open(tmp_path / f"{name}.out", "w") as out, open(tmp_path / f"{name}.err", "w") as err:
            procs[name] = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        return procs[name]

    con = postgres.connect("shared")
    try:
        start("a", TRIALS)
        _wait_for(con, lambda ts: ts, procs, 60, "worker a made a trial")
        start("b", TRIALS)  # once the study exists: b joins a study that a has seeded
        pids = {p.pid: name for name, p in procs.items()}

        def training(ts):  # a finished trial, and one that a worker is training now
            done = [n for n, (s, _) in ts.items() if s == "COMPLETE"]
            busy = [n for n, (s, pid) in ts.items() if s == "RUNNING" and pid in pids]
            return done and busy

        _wait_for(con, training, procs, 90, "a finished trial and a running one")
        time.sleep(0.3)  # still running: the trial is being trained, not told
        busy = _wait_for(con, training, procs, 5, "a trial still running")
        victim = pids[_trials(con)[busy[0]][1]]
        survivor = "b" if victim == "a" else "a"
        procs[victim].send_signal(signal.SIGKILL)
        assert procs[victim].wait(timeout=30) == -signal.SIGKILL
        at_kill = _trials(con)  # read at once: the grace period (2 s) has not run out yet
        killed = [n for n, (s, pid) in at_kill.items()
                  if s == "RUNNING" and pid == procs[victim].pid]
        kept = [n for n, (s, _) in at_kill.items() if s == "COMPLETE"]
        assert killed and kept
        kept_values = {t.number: t.values for t in optuna.load_study(
            study_name="shared", storage=url).get_trials(deepcopy=False) if t.number in kept}

        # a third worker resumes the study while the survivor goes on; it asks for one more
        start("c", TRIALS + 1)
        results = {}
        for name in (survivor, "c"):
            assert procs[name].wait(timeout=120) == 0, (tmp_path / f"{name}.err").read_text()
            results[name] = json.loads((tmp_path / f"{name}.out").read_text())
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        con.close()
    seconds = time.monotonic() - t0

    after = {t.number: t for t in optuna.load_study(study_name="shared", storage=url)
             .get_trials(deepcopy=False)}
    complete = [t for t in after.values() if t.state.name == "COMPLETE"]
    assert len(complete) >= results["c"]["state"]["trials_done"] >= TRIALS + 1
    assert results[survivor]["state"]["trials_done"] >= TRIALS
    for n, values in kept_values.items():  # no finished trial is lost or changed
        assert after[n].state.name == "COMPLETE" and after[n].values == values
    for n in killed:  # failed once its heartbeat went stale, retried once with its genome
        assert after[n].state.name == "FAIL"
        retries = [t for t in after.values() if t.system_attrs.get("failed_trial") == n]
        assert len(retries) == 1, f"trial {n} retried {len(retries)} times"
        assert retries[0].state.name == "COMPLETE" and retries[0].params == after[n].params
    assert not [t.number for t in after.values() if t.state.name in ("RUNNING", "WAITING")]
    drivers = {_pid(t.user_attrs["driver"]) for t in after.values()}
    assert drivers <= {p.pid for p in procs.values()}
    assert procs[victim].pid in drivers and len(drivers) >= 2  # the study was shared
    names = {p.pid: name for name, p in procs.items()}
    table = " ".join(f"{n}:{t.state.name}/{names[_pid(t.user_attrs['driver'])]}"
                     for n, t in sorted(after.items()))
    print(f"\nworkers a, b, c on one PostgreSQL study in {seconds:.0f} s: {table}; {victim} "
          f"killed while running {killed}")
