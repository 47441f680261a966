import time

import pytest

from nas_lightning.stages.cross_validation import FoldPool

from conftest import running


def test_an_interrupted_fold_pool_stops_its_workers_at_once():
    """A run stopped mid-fit (Ctrl-C, a scheduler's SIGTERM) must not wait for the fold fits still running:
    before, the pool's exit waited for them (minutes), and a worker could be left waiting on the queue."""
    with pytest.raises(RuntimeError):
        with FoldPool(2) as pool:
            for _ in range(3):  # two running, one queued
                pool.executor.submit(time.sleep, 60)
            pids = [p.pid for p in pool.executor._processes.values()]
            time.sleep(1)
            started = time.perf_counter()
            raise RuntimeError("stopped")
    assert time.perf_counter() - started < 10
    deadline = time.perf_counter() + 5
    while any(map(running, pids)) and time.perf_counter() < deadline:
        time.sleep(0.1)
    assert len(pids) == 2 and not any(map(running, pids))
