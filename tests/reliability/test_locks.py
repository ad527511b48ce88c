"""The store lock holds when drivers race, on S3 (a real moto server) and on local disk.

Racers are separate processes (spawned, as separate drivers would be), released together by
a barrier for each trial; every trial uses its own store, so a trial's winner keeps its lock
and late racers see it held. Exactly one racer must win every trial.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from storage.lock import LOCK_FILE, CubeLock, LockedError, break_lock, is_stale, read_lock

REPO = Path(__file__).resolve().parents[2]
RACERS = 4


def _racer(stores: list[str], opts: dict | None, barrier, queue) -> None:
    """One driver: for each trial, wait for the others, then try to take that trial's lock."""
    wins, recovered = [], []
    for i, store in enumerate(stores):
        barrier.wait(timeout=60)
        try:
            lock = CubeLock(store, opts).acquire()
        except LockedError:
            continue
        wins.append(i)
        if lock.recovered:
            recovered.append(i)
    queue.put((os.getpid(), wins, recovered))


def _race(stores: list[str], opts: dict | None = None) -> tuple[dict[int, list[int]], list[int]]:
    """Run RACERS processes over the trials; {trial: [winner pids]} and the trials recovered."""
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(RACERS), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(stores, opts, barrier, queue)) for _ in range(RACERS)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    winners: dict[int, list[int]] = {i: [] for i in range(len(stores))}
    recovered: list[int] = []
    for pid, wins, rec in results:
        for i in wins:
            winners[i].append(pid)
        recovered += rec
    return winners, recovered


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


_DEAD: list[int] = []
_BASE = LOCK_FILE.rsplit("/", 1)[-1]


def _write_lock(store, data: bytes) -> None:
    """Put a lock record in a local store, wherever the lock file lives in it."""
    f = Path(store) / LOCK_FILE
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data)


def _beside(store) -> list[str]:
    """What lies beside the lock file (break files, temporary files), the lock itself excluded."""
    f = Path(store) / LOCK_FILE
    if not f.parent.exists():
        return []
    return sorted(p.name for p in f.parent.iterdir() if p.name.startswith(_BASE) and p.name != _BASE)


def _stale_record(token: str) -> bytes:
    """The lock of a killed driver of this host."""
    if not _DEAD:
        _DEAD.append(_dead_pid())
    return json.dumps({"host": socket.gethostname(), "pid": _DEAD[0], "token": token,
                       "started": "earlier"}).encode()


@pytest.fixture
def s3(s3_server):
    """(s3fs filesystem, storage options, a fresh bucket) on the moto server."""
    import s3fs

    url, _ = s3_server
    opts = {"key": "test", "secret": "test", "client_kwargs": {"endpoint_url": url}}
    fs = s3fs.S3FileSystem(**opts)
    bucket = f"locks-{uuid.uuid4().hex[:8]}"
    fs.mkdir(bucket)
    return fs, opts, bucket


def test_s3_conditional_put_is_honoured(s3):
    """What the lock relies on: s3fs `pipe_file(mode="create")` sends If-None-Match: *, and the
    server refuses a second create of the same key."""
    fs, _, bucket = s3
    fs.pipe_file(f"{bucket}/k", b"1", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(f"{bucket}/k", b"2", mode="create")
    assert fs.cat_file(f"{bucket}/k") == b"1"


def test_s3_racing_drivers_exactly_one_wins(s3):
    """Fresh stores, and (every other trial) the lock of a killed driver (dead pid, this host)
    that all racers try to take over at once."""
    fs, opts, bucket = s3
    trials = 16
    stores = [f"s3://{bucket}/race-{i}.zarr" for i in range(trials)]
    for i in range(0, trials, 2):
        fs.pipe_file(f"{bucket}/race-{i}.zarr/{LOCK_FILE}", _stale_record(f"dead-{i}"))
    winners, recovered = _race(stores, opts)
    counts = [len(w) for w in winners.values()]
    assert counts == [1] * trials, f"winners per trial: {counts}"
    for i, pids in winners.items():  # the lock names the winner
        assert read_lock(stores[i], opts)["pid"] == pids[0]
    # a stale lock is taken over by one racer (or, once removed, created afresh by one)
    assert set(recovered) <= set(range(0, trials, 2))
    assert not [f for f in fs.find(bucket) if ".break-" in f]  # no break file left behind


def test_old_check_then_write_could_double_win_on_s3(s3):
    """Control. The lock this replaces checked for the object, wrote it, then read it back. A
    driver delayed between its check and its write (a slow network, a GC pause) by more than
    another's write and read-back also finds its own record on read-back: both run. Forced
    here without timing: every racer checks, then they write one after the other. Under the
    same schedule the conditional put lets exactly one win."""
    import s3fs

    fs, opts, bucket = s3
    trials, racers = 3, 3
    clients = [s3fs.S3FileSystem(**opts, skip_instance_cache=True) for _ in range(racers)]

    def run(old: bool) -> list[int]:
        counts = []
        for trial in range(trials):
            key = f"{bucket}/{'old' if old else 'new'}-{trial}/{LOCK_FILE}"
            checked, wins = threading.Barrier(racers), []
            turn = [threading.Event() for _ in range(racers + 1)]
            turn[0].set()

            def go(j: int) -> None:
                c, token = clients[j], f"driver-{j}".encode()
                free = not c.exists(key) if old else True
                checked.wait(timeout=60)  # every racer has looked before anyone writes
                turn[j].wait(timeout=60)
                try:
                    if old:
                        if free:
                            c.pipe_file(key, token)
                            if c.cat_file(key) == token:
                                wins.append(j)
                    else:
                        try:
                            c.pipe_file(key, token, mode="create")
                            wins.append(j)
                        except FileExistsError:
                            pass
                finally:
                    turn[j + 1].set()

            threads = [threading.Thread(target=go, args=(j,)) for j in range(racers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            counts.append(len(wins))
        return counts

    assert run(old=True) == [racers] * trials  # every driver "won"
    assert run(old=False) == [1] * trials


def test_local_racing_drivers_exactly_one_wins(tmp_path):
    trials = 20
    stores = [str(tmp_path / f"race-{i}.zarr") for i in range(trials)]
    # half the trials start from a stale lock of a killed driver
    for i in range(0, trials, 2):
        _write_lock(stores[i], _stale_record(f"dead-{i}"))
    winners, recovered = _race(stores)
    counts = [len(w) for w in winners.values()]
    assert counts == [1] * trials, f"winners per trial: {counts}"
    # a stale lock is taken over by one racer (or, once it is removed, created afresh by one)
    assert set(recovered) <= set(range(0, trials, 2))
    leftovers = [name for s in stores for name in _beside(s)]
    assert not leftovers, leftovers


def _kill_during_acquire(store: Path, point: str) -> subprocess.CompletedProcess:
    code = "import sys; from storage.lock import CubeLock; CubeLock(sys.argv[1]).acquire()"
    env = {**os.environ, "SCALINGLAB_KILL_AT": point}
    return subprocess.run([sys.executable, "-c", code, str(store)], cwd=REPO, env=env, timeout=120)


@pytest.mark.parametrize("point", ["lock:after-tmp", "lock:after-create"])
def test_local_lock_survives_a_kill_while_being_taken(tmp_path, point):
    """SIGKILL between writing the record and linking it into place leaves no lock (only a
    temporary file, cleaned up); after it, a whole lock of a dead pid, taken over. Never an
    empty lock that nobody can recognise as stale."""
    store = tmp_path / "cube.zarr"
    assert _kill_during_acquire(store, point).returncode == -9
    held = read_lock(str(store))
    if point == "lock:after-tmp":
        assert held is None and [n for n in _beside(store) if n.endswith(".tmp")]
    else:
        assert held is not None and is_stale(held) and held["host"] == socket.gethostname()
    lock = CubeLock(str(store)).acquire()
    assert (lock.recovered is not None) == (point == "lock:after-create")
    assert _beside(store) == []
    lock.release()
    assert read_lock(str(store)) is None


def test_a_kill_during_takeover_leaves_a_lock_the_next_driver_takes(tmp_path):
    """Killed after taking the break file of a stale lock: the stale lock and a stale break
    file remain; the next driver takes both over."""
    store = tmp_path / "cube.zarr"
    _write_lock(store, _stale_record("dead"))
    assert _kill_during_acquire(store, "lock:during-takeover").returncode == -9
    assert _beside(store) == [f"{_BASE}.break-dead"] and read_lock(str(store))["token"] == "dead"
    lock = CubeLock(str(store)).acquire()
    assert lock.recovered["token"] == "dead"
    assert _beside(store) == []
    lock.release()


def test_an_old_torn_lock_on_local_disk_is_taken_over(tmp_path):
    """An empty lock file (what the old O_EXCL-then-write lock left when killed in between) is
    not whole, so its holder cannot be checked; older than a minute it is taken over."""
    store = tmp_path / "cube.zarr"
    _write_lock(store, b"")
    with pytest.raises(LockedError):  # fresh: perhaps being written right now
        CubeLock(str(store)).acquire()
    os.utime(store / LOCK_FILE, (time.time() - 120, time.time() - 120))
    lock = CubeLock(str(store)).acquire()
    assert lock.recovered["unreadable"] and read_lock(str(store))["token"] == lock.token
    lock.release()


def test_a_reused_pid_is_not_the_holder(tmp_path):
    """A lock whose pid now belongs to another process (pid reuse after a kill) is stale."""
    store = tmp_path / "cube.zarr"
    lock = CubeLock(str(store)).acquire()
    held = read_lock(str(store))
    assert not is_stale(held)
    assert held["proc"].startswith("psutil:")
    assert is_stale({**held, "proc": "psutil:0:0.000"})  # same pid, another process (boot/start time)
    assert not is_stale({**held, "proc": "legacy-format:0"})  # older versions' format: pid check only
    lock.release()


def test_break_lock_removes_only_the_lock_it_was_shown(tmp_path):
    store = str(tmp_path / "cube.zarr")
    first = CubeLock(store).acquire()
    shown = read_lock(store)
    first.release()
    second = CubeLock(store).acquire()  # a new sweep took the store since
    assert break_lock(store, token=shown["token"]) is None
    assert read_lock(store)["token"] == second.token
    second.release()


# -- `scalinglab unlock` through the real CLI ---------------------------------------------------

def test_unlock_refuses_a_live_sweep_which_then_finishes(tmp_path, api_url):
    """While a real sweep holds the lock (block 0 sleeps 12 s after Ray's start), `unlock` is refused in one line
    that names the pid and how to stop it, with or without --force; the sweep then finishes."""
    import signal

    import storage
    from scalinglab.spec import load_spec
    from tests.conftest import write_spec
    from tests.flows.helpers import cli_env, run_cli, start_cli, wait_for

    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=1,
                      grid='alpha = [1.0]\nbeta = [0.4]\nN = [16]\nP = ["inf"]\nt = [1, 10, 100]')
    log = tmp_path / "run.log"
    proc = start_cli("run", str(spec), "--no-progress", env=cli_env(api_url, SCALINGLAB_INJECT_FAULT="0:sleep=12"), log=log)
    try:
        def sweep_holds_lock() -> bool:  # the sweep's own lock (not the brief one taken to create the cube)
            held = read_lock(str(store)) or {}
            return held.get("pid") == proc.pid and "reaper_token" in held

        assert wait_for(sweep_holds_lock, timeout=120), log.read_text()
        for extra in ([], ["--force"]):
            res = run_cli("unlock", str(store), *extra, env=cli_env(api_url))
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
            assert f"pid {proc.pid}" in lines[0] and f"`kill {proc.pid}`" in lines[0]
            assert sweep_holds_lock()
        assert proc.wait(timeout=240) == 0, log.read_text()
        counts = storage.status_counts(load_spec(spec), str(store))
        assert counts["units_done"] == counts["units_total"] and read_lock(str(store)) is None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep's whole process group, whatever is left of it
        except ProcessLookupError:
            pass
        proc.wait()


def test_unlock_of_other_hosts_dead_drivers_and_missing_stores(tmp_path):
    from tests.flows.helpers import run_cli

    # a store that does not exist: an error, not "no lock held"
    res = run_cli("unlock", str(tmp_path / "nowhere.zarr"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "does not exist" in res.stderr
    # a holder on another host: this host cannot tell whether it runs, so --force is required
    store = tmp_path / "cube.zarr"
    _write_lock(store, json.dumps({"host": "elsewhere.example", "pid": 4242, "token": "t1",
                                   "started": "earlier"}).encode())
    res = run_cli("unlock", str(store))
    line = res.stderr.strip()
    assert res.returncode == 2 and len(line.splitlines()) == 1, res.stderr
    assert "elsewhere.example" in line and "--force" in line and "second sweep" in line
    assert read_lock(str(store))["token"] == "t1"
    res = run_cli("unlock", str(store), "--force")
    assert res.returncode == 0 and "removed the lock of pid 4242 on elsewhere.example" in res.stdout, res.stderr
    assert read_lock(str(store)) is None
    # a dead driver of this host: removed without --force (a run would also take it over)
    _write_lock(store, _stale_record("t2"))
    res = run_cli("unlock", str(store))
    assert res.returncode == 0 and "removed the stale lock" in res.stdout, res.stderr
    assert read_lock(str(store)) is None and _beside(store) == []
