"""Run a Monte Carlo study into a folder, resumably, on a process pool or a Dask cluster.

The parent process owns the study folder: it submits batches of samples to an executor, and
commits every sample of a finished batch to the store as the batch comes back, in whatever
order batches finish. Three executors run the same :func:`~spicegen.montecarlo.worker.run_batch`:

- ``workers=1``: in this process (no start-up cost);
- ``workers>1``: a :class:`concurrent.futures.ProcessPoolExecutor` with ``spawn`` workers,
  one libngspice each;
- ``dask="local"`` or an address: a Dask ``distributed`` cluster (a ``LocalCluster`` of
  ``workers`` single-threaded processes, or the scheduler at that address) through its
  ``concurrent.futures`` executor.

Stopping is prompt and leaves nothing behind: Ctrl-C or SIGTERM stops dispatching at once,
stops a running sample (ngspice's background thread is halted in this process; pool workers
are killed) and keeps every committed sample, so re-running the same command resumes; pool
workers also die when the parent is killed outright (SIGKILL included).
"""
from __future__ import annotations

import math
import os
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import groupby
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from tqdm import tqdm

from ..testbench import Testbench
from .plan import Plan, check_sample_count, make_plans
from .sampling import KINDS
from .store import Record, Store
from .worker import Task, die_with_parent, forget_circuit, run_batch

#: Largest batch (in runs: a sample, or a pack of samples) sent to one worker of a local pool / a Dask cluster.
MAX_BATCH = {"local": 16, "dask": 64}


@dataclass(frozen=True)
class Summary:
    """What one call of :func:`run_study` did.

    Attributes
    ----------
    folder
        The study folder.
    computed
        Samples simulated in this call.
    failed
        Of those, how many failed.
    skipped
        Samples already stored (finished, or failed and not retried).
    seconds
        Wall time of the simulations.
    """

    folder: Path
    computed: int
    failed: int
    skipped: int
    seconds: float

    @property
    def rate(self) -> float:
        """Samples per second in this call."""
        return self.computed / self.seconds if self.seconds > 0 else math.nan


def run_study(testbench: Testbench, folder: str | Path, *, n: int, seed: int,
              settings: Mapping[str, Any] | None = None, sweep: Mapping[str, Sequence[Any]] | None = None,
              sigmas: Mapping[str, float] | None = None, kinds: Sequence[str] = KINDS, pack: int = 1,
              correlations: Mapping[str, float] | None = None,
              workers: int = 1, dask: str | None = None, batch: int | None = None, retry_failed: bool = False,
              timeout: float | None = None, progress: bool = True, desc: str = "") -> Summary:
    """Run (or resume) ``n`` samples per sweep point of a study on ``testbench`` into ``folder``.

    Parameters
    ----------
    testbench
        The testbench.
    folder
        Study folder; created if needed. Re-running the same study there resumes it.
    n
        Samples per sweep point (>= 1). A larger ``n`` than before extends the study.
    seed, settings, sweep, sigmas, kinds, pack, timeout, correlations
        The study definition, see :func:`~spicegen.montecarlo.plan.make_plan`.
    workers
        Worker processes (1: run in this process). Unused with a Dask scheduler address,
        whose worker threads set the parallelism.
    dask
        ``"local"`` for a Dask LocalCluster of ``workers`` processes, or the address of a
        Dask scheduler (``tcp://host:8786``); ``None`` for the local process pool.
    batch
        Samples per batch (default: about eight batches per worker, at most
        :data:`MAX_BATCH` runs, each a sample or a pack).
    retry_failed
        Also re-run samples stored as failed.
    progress
        Show a progress bar (samples/s, ETA, failures, the sweep point last finished) on stderr.
    desc
        Label of the progress bar (default: the testbench's name).

    Returns
    -------
    Summary

    Raises
    ------
    ValueError
        For bad arguments (see also :func:`~spicegen.montecarlo.plan.make_plan`).
    StudyMismatch
        If ``folder`` holds a study with another definition.

    Examples
    --------
    >>> from testbenches import get_testbench                      # doctest: +SKIP
    >>> run_study(get_testbench("mc-demo"), "out/demo", n=100, seed=1, workers=2)  # doctest: +SKIP
    """
    check_sample_count(n)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}.")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a whole number >= 1, got {batch!r}.")
    study = dict(seed=seed, settings=settings, sweep=sweep, sigmas=sigmas, kinds=kinds, timeout=timeout,
                 correlations=correlations)
    # a failing pack's samples are run again alone, on the same study unpacked (built from the same circuits)
    plan, *rest = make_plans(testbench, packs=(pack,) if pack == 1 else (pack, 1), **study)
    single = rest[0] if rest else None
    with Store.create_or_open(folder, plan.definition) as store:
        store.ask(n)
        store.write_quantities(plan.quantities)
        skipped = store.count_stored(n, include_failed=not retry_failed)
        todo = len(plan.points) * n - skipped
        start = time.perf_counter()
        if not todo:
            return Summary(Path(folder), 0, 0, skipped, 0.0)
        with _sigterm_as_interrupt(), _executor(workers, dask) as (executor, slots), \
                tqdm(total=todo, unit="sample", disable=not progress, dynamic_ncols=True,
                     desc=desc or testbench.name) as bar:
            size = batch or _auto_batch(todo, slots, dask, plan.pack)
            sink = _Sink(store, bar, [_point_label(p.coords) for p in plan.points])
            tasks = _pending(plan, store, n, retry_failed)
            work = partial(run_batch, plan, single=single, interruptible=isinstance(executor, _InlineExecutor))
            _drive(executor, work, _batches(tasks, max(1, size // plan.pack)), 2 * slots, sink)
        return Summary(Path(folder), sink.computed, sink.failed, skipped, time.perf_counter() - start)


def _pending(plan: Plan, store: Store, n: int, retry_failed: bool) -> Iterator[Task]:
    """Tasks still to run (packs grouped), made point by point as they are dispatched, so memory
    does not grow with ``n``."""
    for point in plan.points:
        todo = store.samples_to_run(point.index, n, retry_failed)
        for _, pack in groupby(todo, key=lambda k: k // plan.pack):
            yield point.index, tuple(pack)


def _auto_batch(samples: int, slots: int, dask: str | None, pack: int = 1) -> int:
    """Samples per batch: about eight batches per worker thread, capped so a crash loses little work.

    The cap counts runs, and a pack of ``pack`` samples is one run: a packed study commits (and
    checkpoints, 0.3 ms of CPU) once per several packs rather than once per pack. A packed study in this
    process (one worker, nothing to balance) takes the cap, as an unpacked one of 128 samples or more
    does: a commit costs about 0.5 ms of CPU, 5 µs per sample of a 1000-sample study packed 50 to a
    run that commits ten times.
    """
    cap = MAX_BATCH["dask" if dask else "local"] * pack
    if pack > 1 and slots == 1 and dask is None:
        return cap
    return max(1, min(cap, math.ceil(samples / (8 * slots))))


def _batches(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    """Consecutive tasks in batches of ``size``, never mixing sweep points."""
    for _, group in groupby(tasks, key=lambda t: t[0]):
        batch: list[Task] = []
        for task in group:
            batch.append(task)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


@dataclass
class _Sink:
    """Commits finished samples and counts them on the progress bar."""

    store: Store
    bar: tqdm
    points: Sequence[str]
    computed: int = 0
    failed: int = 0

    def __call__(self, records: Sequence[Record]) -> None:
        self.store.commit(records)
        self.computed += len(records)
        self.failed += sum(not r.ok for r in records)
        point = self.points[records[-1].point] if records else ""
        self.bar.set_postfix({"point": point, "failed": self.failed} if point else {"failed": self.failed},
                             refresh=False)
        self.bar.update(len(records))


def _point_label(coords: Mapping[str, Any]) -> str:
    """A sweep point for the progress bar: ``corner=ss, vdd=1.8`` (empty without a sweep)."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in coords.items())


def _drive(executor: Executor, work: Callable[[Sequence[Task]], list[Record]], batches: Iterable[Sequence[Task]],
           depth: int, on_records: Callable[[list[Record]], None]) -> None:
    """Keep ``depth`` batches in flight, each run by ``work``; hand each finished batch's records to
    ``on_records``. An exception (Ctrl-C included) stops the dispatching at once."""
    queue = iter(batches)
    running: set[Future] = set()

    def refill() -> None:
        for batch in queue:
            running.add(executor.submit(work, batch))
            if len(running) >= depth:
                return

    try:
        refill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                running.discard(future)
                on_records(future.result())
            refill()
    finally:
        for future in running:
            future.cancel()


class _InlineExecutor(Executor):
    """Runs each submitted call at once, in this process (whose ngspice others may have used)."""

    def __init__(self) -> None:
        forget_circuit()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        # KeyboardInterrupt propagates from here, so no further batch is submitted
        return future


@contextmanager
def _executor(workers: int, dask: str | None) -> Iterator[tuple[Executor, int]]:
    """The executor and how many batches it runs at once."""
    if dask is not None:
        with _dask_executor(workers, dask) as pair:
            yield pair
    elif workers == 1:
        yield _InlineExecutor(), 1
    else:
        with process_pool(workers) as pool:
            yield pool, workers


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes that die with this one and ignore Ctrl-C; leaving the
    block by an exception (Ctrl-C included) kills them at once, their running calls lost. Each worker's
    numerical libraries start with its share of the CPUs (:func:`worker_threads`)."""
    with worker_threads(workers):
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=die_with_parent,
                                   initargs=(os.getpid(),))
        try:
            yield pool
        except BaseException:
            _kill_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The variables that set how many threads OpenBLAS (numpy), OpenMP (libngspice, PyTorch) and MKL start."""


@contextmanager
def worker_threads(workers: int) -> Iterator[None]:
    """While the block runs, processes started from this one give their numerical libraries
    ``CPUs // workers`` threads (at least one); a variable the user has set is left as it is.

    The pool's processes start lazily, so the variables hold for the whole block, and are removed
    after it. Without this every worker's OpenBLAS starts a thread per CPU, which spins after each
    call: on 2 CPUs, two ``mc-tran`` workers ran 10 % more samples per second with one thread each.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = str(max(1, cpus // workers))
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    os.environ.update({name: threads for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _kill_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now: their running batches are lost (not stored, so a resume runs them)."""
    # ProcessPoolExecutor has no public way to stop running calls before Python 3.14 (terminate_workers)
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.kill()


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While the study runs, SIGTERM ends it as Ctrl-C does (KeyboardInterrupt): running samples are
    stopped, the workers killed, every committed sample kept. Only in the main thread, and only
    where nobody installed a SIGTERM handler of their own."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def _dask_executor(workers: int, address: str) -> Iterator[tuple[Executor, int]]:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - install problem
        raise ImportError("the Dask backend needs 'distributed': pip install 'spicegen[mc]'") from exc
    if address == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        cluster, client = None, Client(address, timeout=30)
    try:
        yield client.get_executor(), max(1, sum(client.nthreads().values()))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
