"""scikit-learn's common estimator checks over every public estimator."""

from __future__ import annotations

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_deeplight import DeepFwFMClassifier
from sklearn_deeplight._registry import MODELS

# Small networks, enough epochs to pass check_classifiers_train (0.83 on blobs).
_FAST = dict(
    max_epochs=5,
    batch_size=64,
    lr=3e-2,
    random_state=0,
    numeric_fields=None,
    validation_fraction=None,
)
_DEEP = dict(_FAST, embedding_dim=4, hidden_units=(8,), dropout=0.0)


def _instance(info):
    """The model's small network (registry), without dropout."""
    params = dict(_FAST, **info.small)
    if info.deep:
        params["dropout"] = 0.0
    return info.classifier_class()(**params)


#: One instance per model of the registry.
ESTIMATORS = [_instance(info) for info in MODELS]

#: Checks that fail because of skorch's NeuralNet base class itself.
EXPECTED_FAILED = {
    "check_no_attributes_set_in_init": (
        "skorch's NeuralNet.__init__ sets history_, initialized_ and "
        "virtual_params_ (LightGBM's sklearn wrapper xfails this check too)."
    ),
    "check_classifiers_one_label_sample_weights": (
        "sklearn's check fits make_blobs floats as categorical codes, which the "
        "input contract refuses before the labels are looked at; a one-class y "
        "is refused naming the classes in test_bad_input.py."
    ),
    "check_sample_weight_equivalence_on_dense_data": (
        "sklearn's check fits make_blobs floats as categorical codes, which the "
        "input contract refuses; weights equal to repetition give the repeated "
        "model in test_weights_and_validation.py (integer codes, one batch)."
    ),
    "check_decision_proba_consistency": (
        "sklearn's check feeds make_blobs floats to categorical fields without "
        "applying the categorical input tag; it runs with numeric fields in "
        "test_decision_proba_consistency_numeric_fields instead."
    ),
}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_decision_proba_consistency_numeric_fields():
    # check_decision_proba_consistency feeds make_blobs floats without the
    # categorical input tag's rounding; run it with both fields numeric.
    from sklearn.utils.estimator_checks import check_decision_proba_consistency

    est = DeepFwFMClassifier(**{**_DEEP, "numeric_fields": [0, 1]})
    check_decision_proba_consistency("DeepFwFMClassifier", est)
