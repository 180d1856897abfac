"""A scikit-learn Display for the learnt field-pair matrix R (paper Fig. 2).

matplotlib is an optional dependency (the ``plot`` extra); it is imported
only when a display is drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["FieldPairImportanceDisplay"]


class FieldPairImportanceDisplay:
    """Heatmap of a field-pair matrix R, as in the paper's Fig. 2.

    Build it with :meth:`from_estimator` from a fitted FwFM or DeepFwFM (or
    from any square matrix with :meth:`plot`); it follows scikit-learn's
    Display API (``sklearn.metrics.ConfusionMatrixDisplay``).

    Parameters
    ----------
    importance : pandas.DataFrame or array-like of shape (n_fields, n_fields)
        The matrix, e.g. ``estimator.field_pair_importance()``.
    field_names : list of str or None, default=None
        Tick labels; the DataFrame's columns when None (``x0``, ``x1``...
        for an array).

    Attributes
    ----------
    im_ : matplotlib.image.AxesImage
        The heatmap.
    ax_ : matplotlib.axes.Axes
        The axes it is drawn on.
    figure_ : matplotlib.figure.Figure
        The figure holding ``ax_``.
    colorbar_ : matplotlib.colorbar.Colorbar or None
        The colour bar, when drawn.

    See Also
    --------
    DeepFwFMClassifier.field_pair_importance : The matrix R as a DataFrame.
    DeepLightPruning : Prune R's pairs (``field_pairs``) while training.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn_deeplight import FieldPairImportanceDisplay, FwFMClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 5, size=(200, 4))
    >>> y = (X[:, 0] == X[:, 1]).astype(int)
    >>> est = FwFMClassifier(embedding_dim=4, max_epochs=2, random_state=0)
    >>> disp = FieldPairImportanceDisplay.from_estimator(est.fit(X, y))
    >>> disp.im_.get_array().shape
    (4, 4)
    """

    def __init__(self, importance: Any, *, field_names: list[str] | None = None):
        self.importance = importance
        self.field_names = field_names

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        absolute: bool = True,
        highlight: Iterable[tuple[Any, Any]] | None = None,
        ax: Any = None,
        cmap: str = "viridis",
        vmax: float | None = None,
        colorbar: bool = True,
        **imshow_kwargs: Any,
    ) -> FieldPairImportanceDisplay:
        """Draw the R of a fitted estimator with a field-pair matrix.

        Parameters
        ----------
        estimator : fitted FwFMClassifier or DeepFwFMClassifier
            Any fitted estimator with ``field_pair_importance()``.
        absolute : bool, default=True
            Draw ``|R|`` (the importance of a pair); False draws the signed
            weights.
        highlight : iterable of (field, field) or None, default=None
            Pairs to outline, by name or position.
        ax : matplotlib Axes or None, default=None
            Where to draw; a new figure when None.
        cmap : str, default="viridis"
            Colour map.
        vmax : float or None, default=None
            Top of the colour scale (share it to compare two matrices).
        colorbar : bool, default=True
            Draw a colour bar.
        **imshow_kwargs : dict
            Passed to ``ax.imshow``.

        Returns
        -------
        display : FieldPairImportanceDisplay
        """
        method = getattr(estimator, "field_pair_importance", None)
        if method is None:
            raise TypeError(
                f"{type(estimator).__name__} has no field-pair matrix R: use a "
                "fitted FwFMClassifier or DeepFwFMClassifier."
            )
        return cls(method()).plot(
            absolute=absolute,
            highlight=highlight,
            ax=ax,
            cmap=cmap,
            vmax=vmax,
            colorbar=colorbar,
            **imshow_kwargs,
        )

    def _matrix_and_names(self) -> tuple[np.ndarray, list[str]]:
        importance = self.importance
        matrix = np.asarray(importance, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"importance must be a square matrix, got shape {matrix.shape}."
            )
        names = self.field_names
        if names is None:
            columns = getattr(importance, "columns", None)
            names = (
                [str(c) for c in columns]
                if columns is not None
                else [f"x{i}" for i in range(matrix.shape[0])]
            )
        if len(names) != matrix.shape[0]:
            raise ValueError(
                f"field_names has {len(names)} names for {matrix.shape[0]} fields."
            )
        return matrix, list(names)

    def plot(
        self,
        *,
        absolute: bool = True,
        highlight: Iterable[tuple[Any, Any]] | None = None,
        ax: Any = None,
        cmap: str = "viridis",
        vmax: float | None = None,
        colorbar: bool = True,
        **imshow_kwargs: Any,
    ) -> FieldPairImportanceDisplay:
        """Draw the heatmap.

        Parameters
        ----------
        absolute, highlight, ax, cmap, vmax, colorbar, **imshow_kwargs
            See :meth:`from_estimator`.

        Returns
        -------
        display : FieldPairImportanceDisplay
            ``self``, with ``im_``, ``ax_``, ``figure_`` and ``colorbar_``.
        """
        from sklearn.utils._optional_dependencies import check_matplotlib_support

        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle

        matrix, names = self._matrix_and_names()
        shown = np.abs(matrix) if absolute else matrix
        if ax is None:
            _, ax = plt.subplots()
        if vmax is None:
            vmax = float(np.abs(matrix).max()) or 1.0
        vmin = 0.0 if absolute else -vmax
        self.im_ = ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, **imshow_kwargs)
        ax.set_xticks(range(len(names)), names, rotation=90)
        ax.set_yticks(range(len(names)), names)
        for a, b in highlight or ():
            i, j = (self._position(names, f) for f in (a, b))
            for r, c in ((i, j), (j, i)):
                ax.add_patch(
                    Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, ec="red", lw=1.5)
                )
        label = "|R[i, j]|" if absolute else "R[i, j]"
        self.colorbar_ = (
            ax.figure.colorbar(self.im_, ax=ax, label=label) if colorbar else None
        )
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @staticmethod
    def _position(names: list[str], field: Any) -> int:
        if isinstance(field, (int, np.integer)) and not isinstance(field, bool):
            if not 0 <= field < len(names):
                raise ValueError(f"highlight: field position {field} out of range.")
            return int(field)
        if str(field) not in names:
            raise ValueError(f"highlight: unknown field {field!r}; fields: {names}.")
        return names.index(str(field))
