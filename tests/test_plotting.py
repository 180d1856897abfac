"""FieldPairImportanceDisplay: the heatmap of R (the paper's Fig. 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from sklearn_deeplight import (  # noqa: E402
    DeepFMClassifier,
    FieldPairImportanceDisplay,
    FwFMClassifier,
)


@pytest.fixture(scope="module")
def fwfm():
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randint(0, 5, size=(300, 4)), columns=list("abcd"))
    y = (X["a"] == X["b"]).astype(int)
    return FwFMClassifier(embedding_dim=4, max_epochs=2, random_state=0).fit(X, y)


def test_from_estimator_draws_abs_r_with_field_names(fwfm):
    import matplotlib.pyplot as plt

    disp = FieldPairImportanceDisplay.from_estimator(fwfm, highlight=[("a", "b")])
    R = fwfm.field_pair_importance()
    np.testing.assert_allclose(disp.im_.get_array(), np.abs(R.to_numpy()))
    assert [t.get_text() for t in disp.ax_.get_xticklabels()] == list("abcd")
    assert len(disp.ax_.patches) == 2  # (a, b) and (b, a) outlined
    assert disp.colorbar_ is not None and disp.figure_ is disp.ax_.figure
    plt.close("all")


def test_plot_on_given_axes_signed_and_shared_scale(fwfm):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    R = fwfm.field_pair_importance()
    disp = FieldPairImportanceDisplay(R).plot(
        ax=ax, absolute=False, vmax=5.0, colorbar=False
    )
    assert disp.ax_ is ax and disp.colorbar_ is None
    assert disp.im_.get_clim() == (-5.0, 5.0)
    np.testing.assert_allclose(disp.im_.get_array(), R.to_numpy())
    plt.close("all")


def test_errors_name_the_problem(fwfm):
    rng = np.random.RandomState(0)
    X = rng.randint(0, 5, size=(100, 3))
    deepfm = DeepFMClassifier(embedding_dim=4, hidden_units=(4,), max_epochs=1)
    with pytest.raises(TypeError, match="DeepFMClassifier has no field-pair"):
        FieldPairImportanceDisplay.from_estimator(deepfm.fit(X, X[:, 0] % 2))
    with pytest.raises(ValueError, match="square"):
        FieldPairImportanceDisplay(np.zeros((2, 3))).plot()
    with pytest.raises(ValueError, match="unknown field 'z'"):
        FieldPairImportanceDisplay.from_estimator(fwfm, highlight=[("a", "z")])
    import matplotlib.pyplot as plt

    plt.close("all")
