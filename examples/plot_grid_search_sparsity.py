"""
Choosing sparsity rates with GridSearchCV
=========================================

:class:`~sklearn_deeplight.DeepLightPruning` is a skorch callback whose targets
are parameters of the estimator (``callbacks__prune__dnn``...), so
scikit-learn's model selection searches them like any other
hyper-parameter, with cloning, cross-validation and refitting intact.

A search over sparsity has a particular goal: not the best score, but the
*sparsest* model whose score is as good as the best. A callable ``refit``
expresses that rule.
"""

# %%
# A pipeline with a pruning callback
# ----------------------------------
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from sklearn_deeplight import DeepFwFMClassifier, DeepLightPruning, FieldEncoder
from sklearn_deeplight.datasets import make_ctr_classification

X, y = make_ctr_classification(
    n_samples=8_000,
    n_numeric=3,
    n_categorical=10,
    cardinalities=[3, 5, 10, 20, 30, 50, 80, 100, 150, 200],
    n_interactions=6,
    interaction_strength=1.5,
    random_state=0,
)

pipe = make_pipeline(
    FieldEncoder(numeric_transform="criteo", min_frequency=2),
    DeepFwFMClassifier(
        embedding_dim=8,
        hidden_units=(32, 32),
        dropout=0.2,
        embedding_l2=3e-3,
        lr=2e-2,
        batch_size=256,
        max_epochs=4,
        validation_fraction=None,
        random_state=0,
        callbacks=[("prune", DeepLightPruning())],
    ),
)

# %%
# The grid: DNN sparsity and field-pair sparsity
# ----------------------------------------------
# Parameter names go through the pipeline step, the estimator's
# ``callbacks`` and the callback's name.
prefix = "deepfwfmclassifier__callbacks__prune__"
param_grid = {
    prefix + "dnn": [0.0, 0.9, 0.98],
    prefix + "field_pairs": [0.0, 0.9],
}


# %%
# Refit the sparsest model within tolerance of the best
# -----------------------------------------------------
# ``refit`` may be a callable that receives ``cv_results_`` and returns the
# index of the candidate to refit. Here: among the candidates whose mean AUC
# is within one standard error of the best, the one with the most pruned
# weights (DNN first, then R).
def sparsest_within_one_se(cv_results):
    mean = np.asarray(cv_results["mean_test_score"])
    se = np.asarray(cv_results["std_test_score"]) / np.sqrt(n_splits)
    best = int(np.argmax(mean))
    ok = np.flatnonzero(mean >= mean[best] - se[best])
    dnn = np.asarray(cv_results["param_" + prefix + "dnn"], dtype=float)
    pairs = np.asarray(cv_results["param_" + prefix + "field_pairs"], dtype=float)
    return int(ok[np.lexsort((pairs[ok], dnn[ok]))[-1]])


n_splits = 3
search = GridSearchCV(
    pipe,
    param_grid,
    scoring="roc_auc",
    cv=StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0),
    refit=sparsest_within_one_se,
    n_jobs=1,
)
search = search.fit(X, y)

# %%
# Results
# -------
results = pd.DataFrame(
    {
        "DNN": search.cv_results_["param_" + prefix + "dnn"],
        "R": search.cv_results_["param_" + prefix + "field_pairs"],
        "mean AUC": search.cv_results_["mean_test_score"],
        "std AUC": search.cv_results_["std_test_score"],
        "fit s": search.cv_results_["mean_fit_time"],
    }
)
results.round(4)

# %%
# The refitted model is a plain pipeline whose classifier was pruned to the
# chosen targets:
print("chosen:", {k.removeprefix(prefix): v for k, v in search.best_params_.items()})
search.best_estimator_[-1].sparsity_report()

# %%
# Mean cross-validated AUC per structure, with one standard error:
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.5))
for r, group in results.groupby("R"):
    ax.errorbar(
        group["DNN"].astype(float),
        group["mean AUC"],
        yerr=group["std AUC"] / np.sqrt(n_splits),
        marker="o",
        capsize=3,
        label=f"R sparsity {float(r):.0%}",
    )
ax.set_xlabel("DNN sparsity target")
ax.set_ylabel("mean CV AUC")
ax.set_title("Grid search over sparsity rates")
ax.legend()
fig.tight_layout()
