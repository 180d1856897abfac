"""Synthetic click logs with the shape of real ones and a known ground truth."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = ["make_ctr_classification"]

# Made-up cardinalities with the spread of Criteo's 26 categorical fields (a few
# values to a quarter million), before the cap that scales them to n_samples.
_CRITEO_LIKE_CARDINALITIES = (
    1460, 580, 250_000, 170_000, 300, 24, 12_000, 630, 3, 46_000, 5_200, 240_000,
    3_200, 28, 11_000, 190_000, 10, 4_600, 2_000, 4, 225_000, 18, 15, 80_000, 100, 50,
)  # fmt: skip

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(value)


def _check_real(name: str, value, low: float, high: float, *, open_low=False) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    ok = (value > low if open_low else value >= low) and value <= high
    if not ok or np.isnan(value):
        bracket = "(" if open_low else "["
        raise ValueError(f"{name} must be in {bracket}{low}, {high}], got {value!r}")
    return value


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32, dtype=np.uint64))
    return np.random.default_rng(random_state)


def _hex_strings(values: np.ndarray) -> np.ndarray:
    """Unsigned 32-bit ints as 8-hex-digit strings, vectorised."""
    shifts = np.arange(28, -1, -4, dtype=np.uint64)
    nibbles = (values.astype(np.uint64)[:, None] >> shifts) & np.uint64(0xF)
    chars = _HEX_DIGITS[nibbles.astype(np.intp)]
    return np.ascontiguousarray(chars).view("S8").ravel().astype("U8")


def _zipf_sample(
    rng: np.random.Generator, n: int, cardinality: int, exponent: float
) -> np.ndarray:
    """Ranks 0..cardinality-1 with P(k) proportional to (k + 1) ** -exponent.

    Inverse-CDF sampling; a guide table answers most draws without a search.
    """
    weights = np.arange(1, cardinality + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    u = rng.random(n)
    m = 1 << 16
    guide = np.searchsorted(cdf, np.arange(m + 1) / m)
    bucket = (u * m).astype(np.int64)
    ranks = guide[bucket]
    ambiguous = guide[bucket + 1] > ranks
    ranks[ambiguous] = np.searchsorted(cdf, u[ambiguous])
    return np.minimum(ranks, cardinality - 1)


def make_ctr_classification(
    n_samples: int = 100_000,
    *,
    n_numeric: int = 13,
    n_categorical: int = 26,
    cardinalities: Sequence[int] | None = None,
    zipf_exponent: float = 1.1,
    n_interactions: int = 10,
    interaction_strength: float = 0.5,
    embedding_dim: int = 4,
    click_rate: float = 0.2,
    missing_rate: float = 0.1,
    nonlinear: float = 0.0,
    noise: float = 0.0,
    categorical_values: str = "hex",
    as_frame: bool = True,
    return_truth: bool = False,
    random_state: int | np.random.Generator | np.random.RandomState | None = None,
):
    """Generate synthetic click logs with planted field-pair interactions.

    The rows look like Criteo's: numeric fields ``I1..`` hold non-negative
    integer counts with heavy tails and missing values; categorical fields
    ``C1..`` hold raw values (8-hex-digit strings by default) whose frequencies
    follow a Zipf law, a few fields having some missing values. The label is drawn
    from a known click probability ``sigmoid(logit)``, with

    ``logit = b + sum_f w_f[x_f] + sum_(i,j) r_ij <v_i[x_i], v_j[x_j]>
    + nonlinear * h_a[x_a] h_b[x_b] h_c[x_c] + noise * N(0, 1)``

    where ``w_f`` are per-value first-order effects (per field a random scale;
    for a numeric field an effect of ``log1p(x)``, or of being missing), the sum
    over ``(i, j)`` runs over `n_interactions` planted pairs of categorical fields
    only, with latent vectors ``v`` of dimension `embedding_dim` shared by all
    the pairs of a field (an FwFM with per-feature first-order terms, embeddings
    of at least that dimension and ``r_ij`` on those pairs, 0 elsewhere,
    represents the categorical part exactly), and the optional third-order term
    couples three random categorical fields. The intercept ``b`` is set so that
    the mean click probability of the rows is `click_rate`.

    With the defaults the true probabilities reach an AUC of about 0.86 and the
    first-order part alone about 0.70: the planted pairs carry much of the
    signal. Small cardinalities and a larger `interaction_strength` make them
    easier to recover from a fitted model.

    Parameters
    ----------
    n_samples : int, default=100_000
        Number of rows.
    n_numeric : int, default=13
        Number of numeric fields ``I1 .. I{n_numeric}``.
    n_categorical : int, default=26
        Number of categorical fields ``C1 .. C{n_categorical}``.
    cardinalities : sequence of int, default=None
        Number of distinct values of each categorical field. None: a Criteo-like
        spread (from 3 to 250,000 values) capped at ``max(10, n_samples // 20)``
        so that the long tail stays in proportion to the rows.
    zipf_exponent : float, default=1.1
        The k-th most frequent value of a field has probability proportional to
        ``k ** -zipf_exponent`` (0: uniform).
    n_interactions : int, default=10
        Number of planted pairs of categorical fields.
    interaction_strength : float, default=0.5
        Scale of the planted interaction weights ``r_ij`` (each drawn in
        ``interaction_strength * [0.5, 1.5]``; the inner product of two latent
        vectors has unit variance).
    embedding_dim : int, default=4
        Dimension of the true latent vectors.
    click_rate : float, default=0.2
        Mean click probability of the rows (the realised rate of `y` is near it).
    missing_rate : float, default=0.1
        Mean fraction of missing values of a numeric field (per field drawn in
        ``[0, 2 * missing_rate]``); a third of the categorical fields get missing
        values at such rates too.
    nonlinear : float, default=0.0
        Weight of a third-order term of three categorical fields, a signal no
        pairwise model can fit.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to each row's logit.
    categorical_values : {"hex", "int"}, default="hex"
        ``"hex"``: 8-hex-digit strings like Criteo's, in columns of pandas
        ``category`` dtype (use ``.astype(str)`` for plain strings), NaN where
        missing. ``"int"``: int64 ids ``0 .. c - 1`` assigned to the values at
        random, the missing value being the id ``c``: the columns are then valid
        field codes as they are.
    as_frame : bool, default=True
        If False, `X` is ``X.to_numpy()`` (an object array when the columns
        mix kinds).
    return_truth : bool, default=False
        If True, also return the ground truth as a third output.
    random_state : int, numpy Generator or RandomState, default=None
        Seed. The ground truth (effects, pairs, latent vectors) is drawn from a
        stream of its own: with the same seed and the same other parameters
        (explicit `cardinalities` included), samples of different sizes share it.

    Returns
    -------
    X : DataFrame of shape (n_samples, n_numeric + n_categorical)
        Columns ``I1..`` (float64, NaN where missing) then ``C1..``.
    y : ndarray of int64 of shape (n_samples,)
        Clicks.
    truth : Bunch
        Only with `return_truth`: ``interactions``, the planted pairs as
        ``(name_i, name_j)`` tuples by decreasing weight; ``interaction_weights``,
        their ``r_ij``; ``proba``, each row's true click probability;
        ``intercept``, the ``b`` above; ``cardinalities``, of the categorical
        fields.

    See Also
    --------
    load_criteo : Real click logs in the Criteo layout.
    sklearn_deeplight.FieldEncoder : Encodes the raw values into field codes.

    Examples
    --------
    >>> from sklearn_deeplight.datasets import make_ctr_classification
    >>> X, y, truth = make_ctr_classification(
    ...     1000, n_numeric=2, n_categorical=4, n_interactions=2,
    ...     return_truth=True, random_state=0)
    >>> X.shape, y.dtype
    ((1000, 6), dtype('int64'))
    >>> list(X.columns)
    ['I1', 'I2', 'C1', 'C2', 'C3', 'C4']
    >>> len(truth.interactions)
    2
    >>> bool(abs(y.mean() - 0.2) < 0.05)
    True
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_numeric = _check_int("n_numeric", n_numeric, 0)
    n_categorical = _check_int("n_categorical", n_categorical, 0)
    if n_numeric + n_categorical == 0:
        raise ValueError("n_numeric + n_categorical must be >= 1")
    if cardinalities is None:
        cap = max(10, n_samples // 20)
        base = _CRITEO_LIKE_CARDINALITIES
        cards = [min(base[i % len(base)], cap) for i in range(n_categorical)]
    else:
        cards = [_check_int("cardinalities[i]", c, 1) for c in cardinalities]
        if len(cards) != n_categorical:
            raise ValueError(
                f"cardinalities has {len(cards)} entries for "
                f"n_categorical={n_categorical}"
            )
    zipf_exponent = _check_real("zipf_exponent", zipf_exponent, 0.0, 10.0)
    n_pairs_max = n_categorical * (n_categorical - 1) // 2
    n_interactions = _check_int("n_interactions", n_interactions, 0)
    if n_interactions > n_pairs_max:
        raise ValueError(
            f"n_interactions={n_interactions} exceeds the {n_pairs_max} pairs of "
            f"{n_categorical} categorical fields"
        )
    interaction_strength = _check_real(
        "interaction_strength", interaction_strength, 0.0, np.inf
    )
    embedding_dim = _check_int("embedding_dim", embedding_dim, 1)
    click_rate = _check_real("click_rate", click_rate, 0.0, 1.0, open_low=True)
    if click_rate >= 1.0:
        raise ValueError(f"click_rate must be in (0, 1), got {click_rate!r}")
    missing_rate = _check_real("missing_rate", missing_rate, 0.0, 0.5)
    nonlinear = _check_real("nonlinear", nonlinear, 0.0, np.inf)
    noise = _check_real("noise", noise, 0.0, np.inf)
    if categorical_values not in ("hex", "int"):
        raise ValueError(
            f"categorical_values must be 'hex' or 'int', got {categorical_values!r}"
        )

    # three streams: the ground truth, the raw values' names, the rows
    world_seed, names_seed, sample_seed = np.random.SeedSequence(
        _rng(random_state).integers(2**63)
    ).spawn(3)
    world = np.random.default_rng(world_seed)
    names = np.random.default_rng(names_seed)
    rng = np.random.default_rng(sample_seed)
    n = n_samples
    logit = np.zeros(n)
    columns: dict[str, object] = {}

    # ---- numeric fields: zero-inflated, rounded log-normal counts
    for f in range(n_numeric):
        mu, sigma = world.uniform(-0.5, 4.0), world.uniform(0.5, 1.5)
        p_zero, p_missing = world.uniform(0.0, 0.4), world.uniform(0, 2 * missing_rate)
        beta = world.normal(0.0, 0.5) / (abs(mu) + sigma + 1.0)
        gamma = world.normal(0.0, 0.3)
        x = np.floor(np.exp(mu + sigma * rng.standard_normal(n)))
        x[rng.random(n) < p_zero] = 0.0
        missing = rng.random(n) < p_missing
        x[missing] = np.nan
        logit += np.where(missing, gamma, beta * np.log1p(np.nan_to_num(x)))
        columns[f"I{f + 1}"] = x

    # ---- categorical fields: Zipf ranks; the missing value is rank c
    has_missing = np.zeros(n_categorical, dtype=bool)
    if n_categorical:
        k = n_categorical // 3
        has_missing[world.choice(n_categorical, size=k, replace=False)] = True
    ranks = []
    for f, c in enumerate(cards):
        scale = world.uniform(0.05, 0.3)
        w = world.normal(0.0, scale, size=c + 1)
        p_missing = world.uniform(0, 2 * missing_rate) if has_missing[f] else 0.0
        r = _zipf_sample(rng, n, c, zipf_exponent)
        if p_missing > 0:
            r[rng.random(n) < p_missing] = c
        logit += np.take(w, r)
        ranks.append(r)

    # ---- planted pairs
    all_pairs = list(combinations(range(n_categorical), 2))
    chosen = world.choice(len(all_pairs), size=n_interactions, replace=False)
    pairs = [all_pairs[i] for i in np.sort(chosen)]
    weights = interaction_strength * world.uniform(0.5, 1.5, size=n_interactions)
    latent_std = embedding_dim**-0.25  # <v_i, v_j> has unit variance
    latent: dict[int, np.ndarray] = {}
    for i, j in pairs:
        for f in (i, j):
            if f not in latent:
                latent[f] = world.normal(
                    0.0, latent_std, size=(cards[f] + 1, embedding_dim)
                )
    for (i, j), r_ij in zip(pairs, weights):
        vi = np.take(latent[i], ranks[i], axis=0)
        vj = np.take(latent[j], ranks[j], axis=0)
        logit += r_ij * np.einsum("nd,nd->n", vi, vj)

    # ---- optional third-order term and noise
    if nonlinear > 0 and n_categorical >= 3:
        trio = world.choice(n_categorical, size=3, replace=False)
        term = np.ones(n)
        for f in trio:
            term *= world.standard_normal(cards[f] + 1)[ranks[f]]
        logit += nonlinear * term
    if noise > 0:
        logit += noise * rng.standard_normal(n)

    # ---- intercept for the click rate (Newton on the mean probability)
    target = np.log(click_rate / (1 - click_rate))
    b = target - np.mean(logit)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(logit + b)))
        gap = p.mean() - click_rate
        if abs(gap) < 1e-10:
            break
        b -= gap / max(np.mean(p * (1 - p)), 1e-12)
    proba = 1.0 / (1.0 + np.exp(-(logit + b)))
    y = (rng.random(n) < proba).astype(np.int64)

    # ---- raw values
    for f, (c, r) in enumerate(zip(cards, ranks)):
        if categorical_values == "int":
            ids = np.append(names.permutation(c), c).astype(np.int64)
            columns[f"C{f + 1}"] = ids[r]
        else:
            raw = names.choice(2**32, size=c, replace=False)
            hexes = _hex_strings(raw)
            order = np.argsort(hexes)
            position = np.empty(c + 1, dtype=np.int64)
            position[order] = np.arange(c)
            position[c] = -1  # missing
            columns[f"C{f + 1}"] = pd.Categorical.from_codes(
                position[r], categories=pd.Index(hexes[order])
            )
    X = pd.DataFrame(columns)
    if not as_frame:
        X = X.to_numpy()
    if not return_truth:
        return X, y
    order = np.argsort(-weights, kind="stable")
    truth = Bunch(
        interactions=[(f"C{pairs[i][0] + 1}", f"C{pairs[i][1] + 1}") for i in order],
        interaction_weights=weights[order],
        proba=proba,
        intercept=float(b),
        cardinalities=np.asarray(cards, dtype=np.int64),
    )
    return X, y, truth
