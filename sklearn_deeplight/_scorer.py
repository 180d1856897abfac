"""Raw records to click probabilities, without scikit-learn, pandas or torch.

:class:`RecordPredictor` is the serving core of a fitted
:class:`~sklearn_deeplight.ServingPipeline`: the encoder's hash tables and the
sparse predictor's packed weights, scored by the same compiled kernels, on
JSON records (a dict, or a list of dicts). It answers exactly what the
pipeline answers for every record it takes, and refuses, with a ValueError
naming the field, a value it cannot score exactly as the pipeline would. A
process that loads one (:func:`sklearn_deeplight.load`) imports numpy, scipy's
sparse module and numba's kernels, or instead of numba the kernels compiled
ahead of time (:mod:`sklearn_deeplight._aot`), and never scikit-learn, pandas
or torch: what a serving process needs to start in a fraction of a second.

Neither this module nor anything it imports at module level imports
scikit-learn, pandas or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from operator import itemgetter
from typing import Any

import numpy as np

from . import _aot, _runtime
from ._encoder_core import (
    _EXACT_INT,
    _NAMED_TRANSFORMS,
    KeyTables,
    _is_int_literal,
    _load_encoder_kernels,
    encode_rows,
    table_capacity,
)

__all__ = ["RecordPredictor"]

#: Version of the state layout ``__getstate__`` writes.
_STATE_FORMAT = 1
#: The numeric transforms a RecordPredictor computes (by name).
_TRANSFORMS = (None, "identity", *_NAMED_TRANSFORMS)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Calls of one record in the warm-up (see ``RecordPredictor._warm_up``).
_WARM_CALLS = 16
#: The encoder arrays of the state: name, dtype, per field (else None).
_ENCODER_ARRAYS = {
    "numeric": (np.bool_, True),
    "missing_codes": (np.float64, True),
    "oov_codes": (np.float64, True),
    "field_dims": (np.int64, True),
    "str_ok": (np.bool_, True),
    "int_ok": (np.bool_, True),
    "no_num": (np.bool_, True),
    "s_off": (np.int64, False),
    "s_data": (np.uint8, False),
    "s_fields": (np.int64, False),
    "s_codes": (np.int64, False),
    "i_keys": (np.int64, False),
    "i_fields": (np.int64, False),
    "i_codes": (np.int64, False),
}
_ENCODER_PLAIN = ("names", "missing_strings", "numeric_transform", "numeric_missing")
_ENCODER_KEYS = frozenset((*_ENCODER_ARRAYS, *_ENCODER_PLAIN, "n_missing_keys"))
_STATE_KEYS = frozenset(("format", "encoder", "predictor"))


class _Predictor:
    """The sparse predictor's attributes and runtime state (what
    :class:`~sklearn_deeplight.SparseCTRPredictor` holds), without the
    estimator: the object the :mod:`~sklearn_deeplight._runtime` functions
    and the load checks read."""


def _require(ok: bool, msg: str) -> None:
    if not ok:
        raise ValueError(f"invalid RecordPredictor state: {msg}")


def check_state(state: Any, budget: Any = None) -> None:
    """Check a RecordPredictor's state before it is rebuilt: the layout and
    dtypes of the encoder's arrays, every key's field and code in range and
    its bytes inside the key data (the compiled table build and lookups rely
    on it), and the predictor's state as
    :func:`sklearn_deeplight.load` checks a
    :class:`~sklearn_deeplight.SparseCTRPredictor`'s."""
    from ._persist_checks import _check_predictor_state

    _require(type(state) is dict and set(state) == _STATE_KEYS, "unexpected keys")
    _require(state["format"] == _STATE_FORMAT, f"format must be {_STATE_FORMAT}")
    enc, pred = state["encoder"], state["predictor"]
    _require(type(enc) is dict and set(enc) == _ENCODER_KEYS, "encoder keys")
    _require(type(pred) is dict and "classes_" in pred, "a fitted predictor's state")
    _check_predictor_state(pred, budget)
    _require(
        pred["engine"] in ("auto", "numba"),
        "the predictor's engine must be 'auto' or 'numba' (the kernels')",
    )
    names = enc["names"]
    n = pred["n_features_in_"]
    _require(
        type(names) is list
        and len(names) == n
        and all(type(v) is str for v in names)
        and len(set(names)) == n,
        f"names must be {n} distinct column names",
    )
    for key, (dtype, per_field) in _ENCODER_ARRAYS.items():
        a = enc[key]
        _require(
            type(a) is np.ndarray and a.ndim == 1 and a.dtype == dtype,
            f"{key} must be a 1-D {np.dtype(dtype)} array",
        )
        _require(not per_field or a.shape[0] == n, f"{key} must have {n} entries")
    numeric, dims = enc["numeric"], enc["field_dims"]
    _require(
        bool((dims >= 1).all()) and int(dims.max()) < 2**32,
        "field_dims must be in [1, 2**32)",
    )
    cat = ~numeric
    for key in ("missing_codes", "oov_codes"):
        codes = enc[key][cat]  # a numeric field's entries are never read
        _require(
            bool(((codes >= 0) & (codes < dims[cat]) & (codes % 1 == 0)).all()),
            f"{key} must be codes of their categorical fields",
        )
    miss = enc["missing_strings"]
    _require(
        type(miss) is list and all(type(v) is str for v in miss),
        "missing_strings must be a list of str",
    )
    nt, fill = enc["numeric_transform"], enc["numeric_missing"]
    _require(nt in _TRANSFORMS, f"numeric_transform must be one of {_TRANSFORMS}")
    _require(type(fill) is float and math.isfinite(fill), "numeric_missing")
    s_off, s_data = enc["s_off"], enc["s_data"]
    n_s = s_off.shape[0] - 1
    _require(
        n_s >= 0
        and s_off[0] == 0
        and s_off[-1] == s_data.shape[0]
        and bool((np.diff(s_off) >= 0).all()),
        "s_off must be increasing offsets into s_data",
    )
    n_missing = enc["n_missing_keys"]
    _require(
        type(n_missing) is int and 0 <= n_missing <= n_s, "n_missing_keys in range"
    )
    _require(n < 2**16 and n_s < 2**32, "too many fields or keys")
    for prefix, count in (("s", n_s), ("i", enc["i_keys"].shape[0])):
        fields, codes = enc[f"{prefix}_fields"], enc[f"{prefix}_codes"]
        _require(
            fields.shape[0] == count and codes.shape[0] == count,
            f"{prefix}_fields and {prefix}_codes must have one entry per key",
        )
        if count:
            _require(
                bool(((fields >= 0) & (fields < n)).all())
                and not bool(numeric[fields].any())
                and bool(((codes >= 0) & (codes < dims[fields])).all()),
                f"{prefix}-keys: fields must be categorical, codes below their dims",
            )
    for key in ("str_ok", "int_ok", "no_num"):
        _require(not bool(enc[key][numeric].any()), f"{key} of a numeric field")
    if budget is not None:  # the hash table and the build's orders
        n_keys = n_s + enc["i_keys"].shape[0]
        budget.charge(
            16 * table_capacity(n_keys) + 24 * n_keys,
            f"the hash table of {n_keys:,} vocabulary keys",
        )


def _check_built(obj: RecordPredictor) -> None:
    """The checks :func:`sklearn_deeplight.load` runs on a rebuilt
    predictor, on the rebuilt one's attributes."""
    from ._persist_checks import _check_predictor

    _check_predictor(obj._pred)


class RecordPredictor:
    """Click probabilities of raw records, without scikit-learn, pandas or torch.

    The serving core of a fitted ``Pipeline(FieldEncoder, <classifier>)``
    (or of its :class:`ServingPipeline`), made by :meth:`from_pipeline`: the
    encoder's vocabularies as one hash table and the sparse predictor's
    packed weights, scored by the library's compiled kernels. It takes JSON
    records (a dict, or a list of dicts, mapping each column name seen in fit
    to its raw value: str, int, float, bool or None) and returns exactly the
    probabilities the pipeline returns for them.

    A value it cannot score exactly as the pipeline would (a float in a
    categorical field whose vocabulary holds numbers, a number string with
    a decimal point in a numeric field, an infinite value) raises a
    ValueError naming the record, the field and the value; the pipeline's
    pandas path scores or refuses those.

    Save it with :func:`sklearn_deeplight.save` (or joblib): a process that
    loads it with :func:`sklearn_deeplight.load` imports numpy, scipy's sparse
    module and numba only, and starts scoring in a fraction of the time a
    scikit-learn pipeline takes to import (``python -m
    benchmarks.warm_start``); without numba either where
    :func:`compile_kernels` compiled its kernels for the machine. It is not a
    scikit-learn estimator: use the :class:`ServingPipeline` in model
    selection and pipelines.

    Attributes
    ----------
    classes_ : ndarray of shape (2,)
        The labels.
    feature_names_in_ : ndarray of str
        The column names each record holds.
    n_features_in_ : int
        Number of columns.
    threshold : float
        :meth:`predict` returns ``classes_[1]`` above this probability.
    n_jobs : int or None
        Threads of a large batch (the predictor's).
    compiled_ : bool
        Whether it scores with the kernels compiled ahead of time
        (:func:`compile_kernels`, found when it was built or loaded), else
        with numba's. The probabilities are the same.

    See Also
    --------
    ServingPipeline : The scikit-learn serving pipeline it is made from.
    compile_kernels : Its kernels compiled ahead of time.
    sklearn_deeplight.save : Persist it safely.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_deeplight import (FieldEncoder, FwFMClassifier,
    ...                                RecordPredictor, ServingPipeline)
    >>> from sklearn_deeplight.datasets import make_ctr_classification
    >>> X, y = make_ctr_classification(500, n_numeric=2, n_categorical=4,
    ...                                n_interactions=2, random_state=0)
    >>> model = make_pipeline(
    ...     FieldEncoder(), FwFMClassifier(embedding_dim=4, max_epochs=1,
    ...                                    random_state=0)).fit(X, y)
    >>> records = X.iloc[:3].to_dict("records")
    >>> predictor = RecordPredictor.from_pipeline(model)
    >>> server = ServingPipeline.from_pipeline(model)
    >>> bool((predictor.predict_proba(records) == server.predict_proba(records)).all())
    True
    >>> predictor.predict_proba({**records[0], "I1": "1.5"})
    Traceback (most recent call last):
    ...
    ValueError: Record 0: numeric field 'I1' takes a float, an int of ...
    """

    def __init__(self) -> None:
        raise TypeError(
            "Build a RecordPredictor with RecordPredictor.from_pipeline(pipeline), "
            "or load a saved one with sklearn_deeplight.load."
        )

    @classmethod
    def from_pipeline(cls, pipeline: Any, **kwargs) -> RecordPredictor:
        """The record predictor of a fitted pipeline.

        Parameters
        ----------
        pipeline : Pipeline or ServingPipeline
            A fitted ``Pipeline(FieldEncoder, <classifier>)`` (see
            :meth:`ServingPipeline.from_pipeline`) or a
            :class:`ServingPipeline`. The encoder must have been fitted on a
            DataFrame (records are keyed by its column names), with a named
            or no ``numeric_transform`` and ``missing_values`` of strings,
            None and NaN.
        **kwargs : dict
            Parameters of the classifier's conversion (see
            :meth:`ServingPipeline.from_pipeline`).

        Returns
        -------
        predictor : RecordPredictor

        Raises
        ------
        ValueError
            If the encoder or the predictor is one it cannot serve (the
            message says which setting).
        TypeError
            If ``pipeline`` is not a pipeline of a FieldEncoder and a
            classifier.
        """
        from ._encoder_tables import _Tables
        from ._serving import ServingPipeline

        if isinstance(pipeline, ServingPipeline):
            if kwargs:
                raise ValueError(
                    "The pipeline is already a ServingPipeline: from_pipeline takes "
                    f"no conversion parameters ({sorted(kwargs)})."
                )
            server = pipeline
        else:
            server = ServingPipeline.from_pipeline(pipeline, **kwargs)
        enc, pred = server._parts()
        if pred.engine == "scipy":
            raise ValueError(
                "RecordPredictor scores with the compiled kernels: the predictor's "
                "engine must be 'auto' or 'numba', got 'scipy' (whose float32 sums "
                "are not the kernels' bits)."
            )
        names = enc.__dict__.get("feature_names_in_")
        if names is None:
            raise ValueError(
                "RecordPredictor needs an encoder fitted on a DataFrame: records are "
                "keyed by its column names."
            )
        pred_names = pred.__dict__.get("feature_names_in_")
        if pred_names is None or list(pred_names) != list(names):
            raise ValueError(
                "The predictor's feature names must be the encoder's column names."
            )
        nt = enc.numeric_transform
        if nt not in _TRANSFORMS:
            raise ValueError(
                f"RecordPredictor computes the named numeric transforms {_TRANSFORMS}; "
                f"the encoder's numeric_transform is {nt!r}: serve it with "
                "ServingPipeline."
            )
        enc._check_transform_params()
        if enc._fast_tables() is None:
            raise ValueError(
                "RecordPredictor needs the encoder's compiled lookups: missing_values "
                "of strings, None and NaN, and numba."
            )
        mv = enc.missing_values
        tables = _Tables(enc, None if mv is None else tuple(mv), keep=True)
        if tables.kernels is None or tables.keys is None:
            raise ValueError(
                "The encoder's vocabularies exceed the compiled lookups' limits "
                "(65,536 fields, 2**32 codes per field): serve it with "
                "ServingPipeline."
            )
        s_off, s_data, s_fields, s_codes, n_missing, i_keys, i_fields, i_codes = (
            tables.keys
        )
        encoder = {
            "names": [str(v) for v in names],
            "numeric": _numeric(tables),
            "missing_codes": tables.missing_codes.copy(),
            "oov_codes": tables.oov_codes.copy(),
            "field_dims": np.asarray(enc.field_dims_, dtype=np.int64),
            "str_ok": np.array(tables.str_ok, dtype=np.bool_),
            "int_ok": np.array(tables.int_ok, dtype=np.bool_),
            "no_num": np.array(tables.no_num, dtype=np.bool_),
            "missing_strings": sorted(tables.miss_str),
            "numeric_transform": nt,
            "numeric_missing": float(enc.numeric_missing),
            "s_off": s_off,
            "s_data": s_data,
            "s_fields": s_fields,
            "s_codes": s_codes,
            "n_missing_keys": int(n_missing),
            "i_keys": i_keys,
            "i_fields": i_fields,
            "i_codes": i_codes,
        }
        state = {
            "format": _STATE_FORMAT,
            "encoder": encoder,
            "predictor": pred._compact_state(),
        }
        obj = cls.__new__(cls)
        obj.__setstate__(state)  # checks it
        return obj

    # ------------------------------------------------------------------
    # State
    # ------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        return self._state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Checked here too (joblib), since the compiled kernels trust it.
        check_state(state)
        pred_state = state["predictor"]
        n_jobs = pred_state["n_jobs"]
        # the kernels compiled ahead of time, where compile_kernels built them
        # (they hold the GIL: n_jobs > 1 takes numba's)
        compiled = _aot.load_compiled() if n_jobs in (None, 1) else None
        if compiled is not None:
            kernels = _aot.predictor_kernels(compiled)
            enc_kernels = _aot.encoder_kernels(compiled)
        else:
            kernels = _runtime.load_kernels()
            enc_kernels = _load_encoder_kernels()
            if kernels is None or enc_kernels is None:  # pragma: no cover
                raise ImportError(
                    "RecordPredictor needs numba (or its kernels compiled ahead of "
                    "time by sklearn_deeplight.compile_kernels), which could not be "
                    f"imported ({_runtime.kernels_error})."
                )
        # every array a kernel reads: contiguous, as the compiled kernels
        # (which do not check their arguments) take them
        enc = {
            k: np.ascontiguousarray(v) if type(v) is np.ndarray else v
            for k, v in state["encoder"].items()
        }
        pred = _Predictor()
        pred.__dict__.update(_runtime.restore(pred_state))
        for attr, dtype in (
            ("field_dims_", np.int64),
            ("offsets_", np.int64),
            ("_numeric_mask", np.bool_),
        ):  # what index_rows reads (the compiled one trusts the layout)
            setattr(pred, attr, np.ascontiguousarray(getattr(pred, attr), dtype))
        tables = KeyTables()
        tables._setup(
            list(enc["names"]),
            enc["numeric"],
            enc["missing_codes"],
            enc["oov_codes"],
            enc["missing_strings"],
            enc_kernels,
        )
        tables.str_ok = enc["str_ok"].tolist()
        tables.int_ok = enc["int_ok"].tolist()
        tables.no_num = enc["no_num"].tolist()
        tables._build_arrays(
            enc["s_off"],
            enc["s_data"],
            enc["s_fields"],
            enc["s_codes"],
            enc["n_missing_keys"],
            enc["i_keys"],
            enc["i_fields"],
            enc["i_codes"],
        )
        tables._finish()
        nt = enc["numeric_transform"]
        self._state = state
        self._kernels = kernels
        self.compiled_ = compiled is not None
        self._tables = tables
        self._pred = pred
        self._get = itemgetter(*tables.names) if tables.n > 1 else None
        self._named = None if nt is None or nt == "identity" else _NAMED_TRANSFORMS[nt]
        self._fill = enc["numeric_missing"]
        self.classes_ = pred.classes_
        self.feature_names_in_ = np.array(tables.names, dtype=object)
        self.n_features_in_ = tables.n
        self.threshold = float(pred.threshold)
        self.n_jobs = pred.n_jobs
        _check_built(self)

    def _warm_up(self) -> None:
        """Score a record and a tile of records, so that the kernels are
        loaded (numba's from its cache, on their first call) and the Python
        path has run before the first request: called by
        :func:`sklearn_deeplight.load`. Numeric values of 3 take the named
        transforms' logarithms (numpy's first call of a loop on values costs
        tens of microseconds; on an empty array it is not that call). The
        record is scored :data:`_WARM_CALLS` times, after the tile (whose
        scratch evicts what one request reads): CPython specializes a
        function's bytecode once it has run a few times, and in scratch
        timing a fresh process's first request took 3-7 times a warm one
        after a single warm-up call, 4-5 times after the tile last, 1.3-1.5
        times so, with the file's bytes freed before the warm-up (``python -m
        benchmarks.warm_start`` measures it)."""
        tables = self._tables
        record = {}
        for j, name in enumerate(tables.names):
            if tables.numeric_list[j]:
                record[name] = 3.0
            elif tables.str_ok[j]:
                record[name] = "warm-up"  # a lookup (not a missing value)
            elif tables.int_ok[j]:
                record[name] = 0
            else:
                record[name] = None
        self.predict_proba([record] * self._kernels.MIN_TILED_BATCH)
        for _ in range(_WARM_CALLS):  # last: a request is most often one record
            self.predict_proba(record)

    def __repr__(self) -> str:
        return f"RecordPredictor(<{self.n_features_in_} columns>)"

    # ------------------------------------------------------------------
    # Prediction
    # ------------------------------------------------------------------
    def _encode(self, X: Any) -> np.ndarray:
        """The encoded matrix of records ``X`` (float64, one row each)."""
        if isinstance(X, Mapping):
            rows = [X]
        elif type(X) is list and all(isinstance(r, Mapping) for r in X):
            rows = X
            if not rows:
                raise ValueError("No records to score: got an empty list.")
        else:
            raise TypeError(
                "RecordPredictor takes a dict (one record) or a list of dicts mapping "
                f"each column name to its raw value, got {type(X).__name__}; score "
                "DataFrames and arrays with ServingPipeline."
            )
        tables = self._tables
        n = tables.n
        get = self._get
        seqs = None
        # Lengths and (for mappings other than dicts) keys first: reading a
        # missing key of a defaultdict would add it, and score it.
        names = tables.names
        if all(
            len(row) == n and (type(row) is dict or all(c in row for c in names))
            for row in rows
        ):
            try:
                seqs = (
                    [(row[tables.names[0]],) for row in rows]
                    if get is None
                    else [get(row) for row in rows]
                )
            except KeyError:
                seqs = None
        if seqs is None:
            for i, row in enumerate(rows):
                missing = [c for c in tables.names if c not in row]
                extra = [c for c in row if c not in set(tables.names)]
                if missing or extra:
                    raise ValueError(
                        f"Record {i} "
                        + (f"lacks the columns {missing}" if missing else "")
                        + (" and " if missing and extra else "")
                        + (f"holds columns not seen in fit {extra}" if extra else "")
                        + f": each record maps the {n} columns seen in fit to values."
                    )
            raise ValueError("The records do not map the columns seen in fit.")
        M = encode_rows(tables, seqs, self._named, self._fill)
        if type(M) is int:
            raise self._refusal(seqs, M)
        return M

    def _refusal(self, seqs: list, p: int) -> ValueError:
        """The error for the value at flat position ``p`` of ``seqs`` that
        :func:`encode_rows` declined (-1: a transformed value not finite)."""
        tables = self._tables
        n = tables.n
        if p < 0:
            for i, row in enumerate(seqs):
                for j in tables.num_pos.tolist():
                    v = row[j]
                    x = float(int(v)) if type(v) is str and _is_int_literal(v) else v
                    if type(x) in (int, float) and not math.isfinite(
                        float(self._named(np.array([float(x)]))[0])
                    ):
                        return ValueError(
                            f"Record {i}: the numeric transform "
                            f"{self._state['encoder']['numeric_transform']!r} of field "
                            f"{tables.names[j]!r}'s value {v!r} is not finite."
                        )
            return ValueError("A numeric value's transform is not finite.")
        i, j = divmod(p, n)
        v = seqs[i][j]
        name = tables.names[j]
        if tables.numeric_list[j]:
            if type(v) is float and not math.isfinite(v):
                why = "a finite value"
            else:
                why = (
                    "a float, an int of magnitude below "
                    f"2**{_EXACT_INT.bit_length() - 1}, a decimal integer string "
                    "or a missing value (None, NaN"
                    + "".join(f", {s!r}" for s in sorted(tables.miss_str))
                    + ")"
                )
            return ValueError(
                f"Record {i}: numeric field {name!r} takes {why}; got {v!r} "
                f"({type(v).__name__})."
            )
        kinds = [
            kind
            for kind, ok in (
                ("str", tables.str_ok[j]),
                ("int", tables.int_ok[j]),
                ("float (out of vocabulary)", tables.no_num[j]),
            )
            if ok
        ]
        kinds.append(
            "missing values (None, NaN"
            + "".join(f", {s!r}" for s in sorted(tables.miss_str))
            + ")"
        )
        takes = ", ".join(kinds[:-1]) + " or " + kinds[-1]
        return ValueError(
            f"Record {i}: field {name!r} takes {takes}; got {v!r} ({type(v).__name__})."
        )

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of records, columns in the order of ``classes_``.

        Parameters
        ----------
        X : dict or list of dict
            One record, or records: each maps every column name seen in fit
            to its raw value (str, int, float, bool or None).

        Returns
        -------
        proba : ndarray of float64 of shape (n_records, 2)
            What the pipeline's ``predict_proba`` returns for the records.

        Raises
        ------
        ValueError
            For a record lacking a column or holding one not seen in fit, a
            value it cannot score exactly as the pipeline would, or a numeric
            value so large that the model's arithmetic overflows; the
            message names the record, the field and the value.
        TypeError
            If ``X`` is neither a dict nor a list of dicts.
        """
        M = self._encode(X)
        proba = _runtime.fused_proba(self._pred, self._kernels, M, self.n_jobs)
        if proba is not None:
            return proba
        return self._proba_checked(M)

    def _proba_checked(self, M: np.ndarray) -> np.ndarray:
        """The general path: index, logits, their check, the sigmoid."""
        from scipy.special import expit

        pred, kernels = self._pred, self._kernels
        xi, xv, ok = kernels.index_rows(
            M, pred._numeric_mask, pred.field_dims_, pred.offsets_
        )
        if not ok:  # a numeric value beyond float32: the estimator refuses it
            big = np.abs(M[:, pred._numeric_mask]) > _FLOAT32_MAX
            i, k = np.argwhere(big)[0]
            j = int(np.flatnonzero(pred._numeric_mask)[k])
            raise ValueError(
                f"Record {i}: numeric field {self._tables.names[j]!r} holds "
                f"{M[i, j]:g}, beyond float32 (the model's precision)."
            )
        logit, bad = _runtime.logits(pred, kernels, xi, xv, self.n_jobs)
        if bad:  # pragma: no cover - the encoder's codes index the table
            raise ValueError("The encoded rows fall outside the embedding table.")
        _runtime.check_logits_are_finite(logit, xv.__getitem__, self._tables.names)
        proba = np.empty((logit.shape[0], 2), dtype=np.float64)
        expit(logit, out=proba[:, 1], dtype=np.float64)
        np.subtract(1.0, proba[:, 1], out=proba[:, 0])
        return proba

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels of records: ``classes_[1]`` above ``threshold``.

        Parameters
        ----------
        X : dict or list of dict
            Records (see :meth:`predict_proba`).

        Returns
        -------
        labels : ndarray of shape (n_records,)
        """
        proba = self.predict_proba(X)
        return self.classes_[(proba[:, 1] > self.threshold).astype(np.intp)]


def _numeric(tables: KeyTables) -> np.ndarray:
    """The numeric-field mask of ``tables``."""
    return np.array(tables.numeric_list, dtype=np.bool_)
