"""Where runs execute: in this process, in a local process pool, or on a Dask cluster.

Every executor has one shape: :func:`run_all` calls ``fn`` on each item and
yields ``(index, value)`` as each finishes, in completion order; ``value`` is
the exception when the call could not complete (a worker process died). The
caller decides what order results end up in, so results never depend on the
executor or on the number of workers — each run carries its own seeds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from netsim.errors import ConfigError, one_of

if TYPE_CHECKING:  # a serial run needs neither (their import is a few tens of ms of a short run)
    from concurrent.futures import ProcessPoolExecutor

T = TypeVar("T")
EXECUTORS = ("local", "dask")
_ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx|inproc)://\S+$")


def check_options(executor: str, jobs: int | None, address: str | None) -> None:
    """Refuse impossible combinations with a message that says what to do instead."""
    if executor not in EXECUTORS:
        raise ConfigError("--executor", f"unknown executor '{executor}'; use one of {one_of(EXECUTORS)}")
    if jobs is not None and jobs < 1:
        raise ConfigError("--jobs", f"must be 1 or more, got {jobs}")
    if address is not None:
        if executor != "dask":
            raise ConfigError("--address", "a scheduler address needs --executor dask; add it, or drop --address to run locally")
        if not _ADDRESS.match(address):
            raise ConfigError("--address", f"'{address}' is not a Dask scheduler address; write it like tcp://scheduler:8786")


def run_all(
    fn: Callable[[Any], T], items: Sequence[Any], *, executor: str = "local", jobs: int | None = None, address: str | None = None
) -> Iterator[tuple[int, T | BaseException]]:
    """``fn(item)`` for every item; yields ``(index, result or exception)`` as each finishes."""
    check_options(executor, jobs, address)
    if not items:
        return iter(())
    if executor == "dask":
        return _on_dask(fn, items, jobs, address)
    if (jobs or 1) == 1 or len(items) == 1:
        return ((i, fn(item)) for i, item in enumerate(items))
    return _in_processes(fn, items, jobs or 1)


def _in_processes(fn: Callable[[Any], T], items: Sequence[Any], jobs: int) -> Iterator[tuple[int, T | BaseException]]:
    # Spawned, not forked: no state leaks from the parent, and the same on every platform (style.md §8).
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool: ProcessPoolExecutor | None = None
    try:
        with _ctrl_c_held():
            pool = ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=multiprocessing.get_context("spawn"),
                                       initializer=worker_setup, initargs=(os.getpid(),))
            futures = {pool.submit(fn, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            try:
                value: T | BaseException = future.result()
            except Exception as exc:  # BrokenProcessPool: a worker died; its runs are reported, not lost silently
                value = exc
            yield futures[future], value
    except BaseException:
        # Ctrl-C or the caller stopped early: drop queued runs and stop the runs in flight (their results would
        # be lost anyway; stored runs are kept), so the command ends now instead of when the workers finish.
        if pool is not None:
            _stop_workers(pool)
        raise
    pool.shutdown()


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[None]:
    """Start workers with Ctrl-C ignored, and hand a Ctrl-C that came meanwhile to the parent afterwards.

    Workers must ignore Ctrl-C from their first instruction (an ignored signal stays ignored across
    exec, so this covers a worker still importing): the parent alone handles it, in one line, and
    stops the workers itself. The parent ignores it too while it starts them, but with SIGINT
    *blocked* as well, so that a Ctrl-C in that window stays pending (Linux never discards a
    blocked signal as ignored) and is delivered when the parent's own handler is back — instead
    of being lost, which let the whole sweep run on.
    """
    if not _in_main_thread():
        yield
        return
    # multiprocessing starts its resource tracker with SIGINT blocked and then *unblocks* it, which would undo
    # the block below in the middle of the window: start the tracker first, so that it happens outside.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    can_block = hasattr(signal, "pthread_sigmask")
    if can_block:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if can_block:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is raised here


def worker_setup(parent_pid: int) -> None:
    """Runs first in every worker process: ignore Ctrl-C, and die with the parent (Linux).

    The parent handles Ctrl-C; a worker that inherited the terminal's SIGINT would print its
    own traceback. ``PR_SET_PDEATHSIG`` asks the kernel to SIGKILL the worker when the
    parent dies — even by SIGKILL, when no cleanup code of the parent runs — so no
    worker is left simulating for nobody.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):  # no prctl: the pool's own shutdown is all there is
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request above took effect
        os._exit(1)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the executor offers no public way in 3.11
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _on_dask(fn: Callable[[Any], T], items: Sequence[Any], jobs: int | None, address: str | None) -> Iterator[tuple[int, T | BaseException]]:
    try:
        from distributed import Client, LocalCluster
        from distributed import as_completed as dask_completed
    except ImportError:
        raise ConfigError("--executor", "dask is not installed; install it with: pip install 'netsim[dask]'") from None
    cluster = None
    if address:
        try:
            client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                "--address", f"cannot reach a Dask scheduler at {address} ({exc}); check the address, or leave it out for a local cluster"
            ) from None
    else:
        workers = jobs or os.cpu_count() or 1
        cluster = LocalCluster(
            n_workers=min(workers, len(items)), threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR
        )
        client = Client(cluster)
    futures = []
    try:
        futures = [client.submit(fn, item, pure=False) for item in items]
        index = {future.key: i for i, future in enumerate(futures)}
        for future in dask_completed(futures):
            try:
                value: T | BaseException = future.result()
            except Exception as exc:  # KilledWorker: a run crashed its worker more than once
                value = exc
            future.release()
            yield index[future.key], value
    finally:
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
