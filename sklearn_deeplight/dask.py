"""Scaling out with Dask (and notes on Ray and Hugging Face accelerate).

Needs the ``dask`` extra: ``pip install "sklearn-deeplight[dask]"``.

Model selection on a cluster
----------------------------
scikit-learn's searches run their fits through joblib; joblib's ``dask``
backend sends each (candidate, fold) fit to a worker of a
``dask.distributed`` cluster. Give every worker one thread and one torch
thread so that the workers of a machine do not oversubscribe its cores::

    import joblib
    from dask.distributed import Client, LocalCluster
    from sklearn.model_selection import GridSearchCV
    from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning
    from sklearn_deeplight.dask import set_worker_threads

    cluster = LocalCluster(n_workers=8, threads_per_worker=1)  # processes
    client = Client(cluster)      # or Client("tcp://scheduler:8786")
    set_worker_threads(client, 1) # torch threads per worker, before any fit

    est = DeepFwFMClassifier(
        max_epochs=5, random_state=0, verbose=0,
        callbacks=[("prune", DeepLightPruning(dnn=0.9, warm_up_epochs=2))],
    )
    grid = {"callbacks__prune__dnn": [0.5, 0.8, 0.9], "embedding_dim": [8, 10]}
    search = GridSearchCV(est, grid, cv=3, scoring="roc_auc")
    with joblib.parallel_config(backend="dask", scatter=[X, y]):
        search.fit(X, y)          # refit of the best candidate: on the client

``RandomizedSearchCV`` works the same way. With the same ``random_state`` the
search gives the same ``cv_results_`` and ``best_params_`` as ``n_jobs=1``
on one machine when both use the same number of torch threads (threads
change the order of floating-point sums). Notes:

- the workers import ``sklearn_deeplight``: install it on every worker (a
  ``LocalCluster`` inherits the client's environment);
- ``scatter=[X, y]`` ships the data once per worker instead of once per fit;
- only the scores come back; the search keeps no fitted model but
  ``best_estimator_`` (skorch history of the folds included);
- GPUs: one worker per GPU (``dask-worker --nthreads 1 --resources GPU=1``)
  and ``device="cuda"`` in the estimator;
- ``distributed`` already starts worker processes with ``OMP_NUM_THREADS=1``;
  :func:`set_worker_threads` makes the choice explicit and covers threads
  that torch had already set up and workers that join later.

Ray's joblib backend runs the same search (checked in the project notes with
ray 2.60, not by this package's tests): ``from ray.util.joblib import
register_ray; register_ray()`` then ``joblib.parallel_config(backend="ray")``,
after ``ray.init(runtime_env={"working_dir": "."})`` where the package is not
installed on the nodes. Ray workers ignored ``OMP_NUM_THREADS`` there (torch
used two threads): set torch's threads in the worker processes, e.g. with
``runtime_env={"worker_process_setup_hook": ...}`` calling
``torch.set_num_threads(1)``.

Batch scoring
-------------
:func:`predict_proba` and :func:`predict` score a Dask DataFrame (raw columns,
with a fitted encoder in front) or a Dask Array partition by partition with a
fitted predictor, usually the torch-free
:class:`~sklearn_deeplight.SparseCTRPredictor` from ``est.to_sparse()``. The
predictor and encoder are sent to each worker once (``client.scatter(...,
broadcast=True)`` under a distributed client, one graph node otherwise). With
the sparse predictor's numba engine (the default where numba imports), which
computes each row on its own, the results equal the local ``predict_proba``
exactly, whatever the partitions; the scipy engine's matrix products may
differ in the last bits with the partition sizes (about 1e-9).

Multi-GPU and multi-node training: accelerate
---------------------------------------------
skorch's :class:`skorch.hf.AccelerateMixin` (Hugging Face ``accelerate``,
experimental in skorch) combines with the estimators by subclassing::

    from accelerate import Accelerator
    from skorch.hf import AccelerateMixin
    from sklearn_deeplight import DeepFwFMClassifier

    class AcceleratedDeepFwFM(AccelerateMixin, DeepFwFMClassifier):
        pass

    est = AcceleratedDeepFwFM(
        accelerator=Accelerator(mixed_precision="no"),  # cpu=True on a laptop
        max_epochs=5, random_state=0,
    )
    est.fit(X, y)              # launch with: accelerate launch train.py
    est.predict_proba(X)

Leave ``device=None`` (the accelerator places the module); keep
``unwrap_after_train=True`` (the default) to pickle the fitted estimator or
call ``to_sparse()``. The mixin prints the epoch log through
``accelerator.print`` whatever ``verbose`` says; pass
``callbacks__print_log__sink=print`` to keep ``verbose=0`` quiet. The
estimators feed batches through their own
iterator, not a torch ``DataLoader``, so ``accelerate`` does not shard the
data: under ``accelerate launch`` with several processes each process trains
on every batch (gradients are averaged across processes, so the model is
right but the epochs are not faster); scale batches per process with
``batch_size``. Mixed precision and single-GPU placement work as with any
skorch net. The package's test suite fits and predicts with it on the CPU.

Examples
--------
>>> import dask
>>> import dask.dataframe as dd
>>> from sklearn_deeplight import FieldEncoder, FwFMClassifier
>>> from sklearn_deeplight.datasets import make_ctr_classification
>>> from sklearn_deeplight.dask import predict_proba
>>> X, y = make_ctr_classification(200, n_numeric=1, n_categorical=3,
...                                n_interactions=1, random_state=0)
>>> enc = FieldEncoder().fit(X)
>>> sparse = FwFMClassifier(max_epochs=1, random_state=0).fit(
...     enc.transform(X), y).to_sparse()
>>> proba = predict_proba(sparse, dd.from_pandas(X, npartitions=4), encoder=enc)
>>> with dask.config.set(scheduler="synchronous"):
...     out = proba.compute()
>>> bool((out == sparse.predict_proba(enc.transform(X))).all())
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

try:
    import dask
    import dask.array as da
    import dask.dataframe as dd
    from distributed import WorkerPlugin
except ImportError as exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "sklearn_deeplight.dask needs dask and distributed: "
        'pip install "sklearn-deeplight[dask]"'
    ) from exc

__all__ = ["TorchThreads", "predict", "predict_proba", "set_worker_threads"]


# ----------------------------------------------------------------------
# Threads per worker
# ----------------------------------------------------------------------
def _set_threads(n: int) -> int:
    """Set torch's (and BLAS') threads in this process; return torch's count."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:  # pragma: no cover - scikit-learn depends on it
        pass
    import torch

    torch.set_num_threads(n)
    return torch.get_num_threads()


class TorchThreads(WorkerPlugin):
    """Worker plugin that sets torch's intra-op threads on every worker.

    Registered by :func:`set_worker_threads`; runs on the workers present
    and on those that join later. It also limits the BLAS and OpenMP pools
    (``threadpoolctl``) to the same count.

    Parameters
    ----------
    n : int, default=1
        Threads per worker process.

    Attributes
    ----------
    n : int
        Threads per worker process.
    name : str
        The plugin's name on the cluster (registering it again replaces it).

    See Also
    --------
    set_worker_threads : Registers it and sets the threads of running tasks.

    Examples
    --------
    >>> from sklearn_deeplight.dask import TorchThreads
    >>> plugin = TorchThreads(n=1)  # client.register_plugin(plugin)
    >>> plugin.n, plugin.name
    (1, 'sklearn-deeplight-torch-threads')
    """

    name = "sklearn-deeplight-torch-threads"

    def __init__(self, n: int = 1) -> None:
        self.n = n

    def setup(self, worker) -> None:
        """Set the threads of the worker process.

        Parameters
        ----------
        worker : distributed.Worker
            The worker (unused: the setting is per process).
        """
        _set_threads(self.n)


def set_worker_threads(client, n: int = 1) -> dict[str, int]:
    """Give every Dask worker ``n`` torch threads (and ``n`` BLAS threads).

    torch reads its thread count per thread, on the thread's first parallel
    operation, and a process-wide setting does not reach threads that
    already ran one. This registers a :class:`TorchThreads` plugin (the
    process default, on present and future workers) and runs one task per
    worker thread so that the executor threads take the setting too. Call it
    right after creating the client, before training on the workers.

    Parameters
    ----------
    client : distributed.Client
        The client of the cluster.
    n : int, default=1
        Threads per worker; 1 when a worker runs one task at a time on each
        of its cores (``threads_per_worker=1``).

    Returns
    -------
    threads : dict
        Worker address to the torch threads its task threads report.

    See Also
    --------
    TorchThreads : The worker plugin it registers.

    Examples
    --------
    A cluster in this process (``processes=False``) shares its threads with
    the caller, so this keeps the caller's count:

    >>> import torch
    >>> from distributed import Client
    >>> from sklearn_deeplight.dask import set_worker_threads
    >>> n = torch.get_num_threads()
    >>> with Client(processes=False, n_workers=1, threads_per_worker=1,
    ...             dashboard_address=None) as client:
    ...     threads = set_worker_threads(client, n)
    >>> list(threads.values()) == [n]
    True
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}.")
    client.register_plugin(TorchThreads(n), name=TorchThreads.name)
    futures = []
    for address, nthreads in client.nthreads().items():
        futures += [
            client.submit(
                _set_threads,
                n,
                workers=[address],
                allow_other_workers=False,
                pure=False,
                key=f"sklearn-deeplight-threads-{address}-{i}",
            )
            for i in range(nthreads)
        ]
    client.gather(futures)
    return client.run(_torch_threads)


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# ----------------------------------------------------------------------
# Batch scoring
# ----------------------------------------------------------------------
class _Scorer:
    """The fitted encoder and predictor, applied to one partition."""

    def __init__(self, predictor: Any, encoder: Any, method: str) -> None:
        self.predictor = predictor
        self.encoder = encoder
        self.method = method

    def __call__(self, part: Any) -> np.ndarray:
        if len(part) == 0:  # an empty partition (common after a filter)
            return self._empty()
        if self.encoder is not None:
            part = self.encoder.transform(part)
        return np.asarray(getattr(self.predictor, self.method)(part))

    def _empty(self) -> np.ndarray:
        """The result of no rows: its shape and dtype as for any partition."""
        classes = np.asarray(self.predictor.classes_)
        if self.method == "predict_proba":
            return np.empty((0, len(classes)), dtype=np.float64)
        return np.empty(0, dtype=classes.dtype)


def _apply(part: Any, scorer: _Scorer) -> np.ndarray:
    return scorer(part)


def _active_client(client):
    """The distributed client that will run the graph, or None."""
    if client is not None:
        return client
    scheduler = dask.config.get("scheduler", None)
    if scheduler not in (None, "dask.distributed", "distributed"):
        return None
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _ship(scorer: _Scorer, client):
    """A handle on the scorer that workers fetch once: a Future or a Delayed."""
    client = _active_client(client)
    if client is not None:
        return client.scatter(scorer, broadcast=True, hash=False)
    return dask.delayed(scorer, pure=True, traverse=False)


def _score(predictor, data, encoder, method: str, client):
    check_is_fitted(predictor)
    if encoder is not None:
        check_is_fitted(encoder)
    if method == "predict_proba":
        dtype = np.dtype(np.float64)
        width: int | None = len(predictor.classes_)
    else:
        dtype = np.asarray(predictor.classes_).dtype
        width = None
    scorer = _ship(_Scorer(predictor, encoder, method), client)
    if isinstance(data, dd.DataFrame):
        meta = np.empty((0, width) if width else (0,), dtype=dtype)
        return data.map_partitions(_apply, scorer, meta=meta)
    if isinstance(data, da.Array):
        if data.ndim != 2:
            raise ValueError(
                f"Expected a 2-D Dask Array (rows by fields), got {data.ndim}-D."
            )
        data = data.rechunk({1: -1})  # whole rows in each block
        if width:
            return data.map_blocks(
                _apply,
                scorer,
                chunks=(data.chunks[0], (width,)),
                dtype=dtype,
                meta=np.empty((0, width), dtype=dtype),
            )
        return data.map_blocks(
            _apply,
            scorer,
            chunks=(data.chunks[0],),
            drop_axis=1,
            dtype=dtype,
            meta=np.empty((0,), dtype=dtype),
        )
    raise TypeError(
        f"Expected a Dask DataFrame or Dask Array, got {type(data).__name__}; "
        "score in-memory data with the predictor's own methods."
    )


def predict_proba(predictor, data, *, encoder=None, client=None):
    """Class probabilities of a Dask DataFrame or Array, partition by partition.

    Parameters
    ----------
    predictor : fitted classifier
        Usually a :class:`~sklearn_deeplight.SparseCTRPredictor` (torch-free,
        small to ship); any fitted classifier with ``predict_proba`` works.
    data : dask.dataframe.DataFrame or dask.array.Array
        Raw columns when `encoder` is given, else the encoded field matrix.
        A Dask Array is rechunked to whole rows.
    encoder : fitted transformer, default=None
        Applied to each partition first, e.g. a fitted
        :class:`~sklearn_deeplight.FieldEncoder`.
    client : distributed.Client, default=None
        Client to scatter the models with; None: the default client if one
        is active (and ``dask.config`` names no other scheduler), else the
        models travel as one node of the task graph.

    Returns
    -------
    proba : dask.array.Array of shape (n_samples, 2)
        Lazy float64 probabilities in the order of ``predictor.classes_``;
        the row chunks are unknown (NaN) for DataFrame input.

    See Also
    --------
    predict : The labels.
    sklearn_deeplight.SparseCTRPredictor : The torch-free predictor.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn_deeplight import FMClassifier
    >>> from sklearn_deeplight.dask import predict_proba
    >>> X = np.array([[0, 1], [1, 0], [0, 0], [1, 1]] * 25)
    >>> sparse = FMClassifier(max_epochs=2, random_state=0).fit(
    ...     X, X[:, 0]).to_sparse()
    >>> proba = predict_proba(sparse, da.from_array(X, chunks=(30, 2)))
    >>> proba.shape
    (100, 2)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     bool((proba.compute() == sparse.predict_proba(X)).all())
    True
    """
    return _score(predictor, data, encoder, "predict_proba", client)


def predict(predictor, data, *, encoder=None, client=None):
    """Predicted labels of a Dask DataFrame or Array, partition by partition.

    Parameters
    ----------
    predictor : fitted classifier
        See :func:`predict_proba`.
    data : dask.dataframe.DataFrame or dask.array.Array
        See :func:`predict_proba`.
    encoder : fitted transformer, default=None
        See :func:`predict_proba`.
    client : distributed.Client, default=None
        See :func:`predict_proba`.

    Returns
    -------
    labels : dask.array.Array of shape (n_samples,)
        Lazy labels from ``predictor.classes_``.

    See Also
    --------
    predict_proba : The class probabilities.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn_deeplight import LRClassifier
    >>> from sklearn_deeplight.dask import predict
    >>> X = np.array([[0, 1], [1, 0], [0, 0], [1, 1]] * 25)
    >>> y = X[:, 0]
    >>> sparse = LRClassifier(lr=0.1, max_epochs=20, random_state=0).fit(
    ...     X, y).to_sparse()
    >>> labels = predict(sparse, da.from_array(X, chunks=(30, 1)))
    >>> with dask.config.set(scheduler="synchronous"):
    ...     bool((labels.compute() == y).all())
    True
    """
    return _score(predictor, data, encoder, "predict", client)
