"""Strategy strings, the pipelines they build and the fold-aware samplers."""


import numpy as np
import pytest
from imblearn import FunctionSampler
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.preprocessing import StandardScaler

from sklimb import ImbalancedNetClassifier
from sklimb.losses import LOSSES
from sklimb.strategies import DEFAULT_STRATEGIES, OPTIONS, SAMPLERS, Strategy


# ------------------------------------------------------------------ parse
@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_parse_loss(loss):
    strategy = Strategy.parse(loss)
    assert strategy == Strategy(name=loss, loss=loss)
    assert strategy.sampler is None and strategy.class_weight == "auto"
    assert strategy.loss_params == {}


@pytest.mark.parametrize("sampler", ["smote", "over", "under"])
def test_parse_sampler(sampler):
    strategy = Strategy.parse(f"{sampler}+focal")
    assert (strategy.sampler, strategy.loss, strategy.class_weight) == (sampler, "focal", "auto")
    per_epoch = Strategy.parse(f"epoch_{sampler}+focal")  # the same sampler, every epoch
    assert per_epoch.sampler is None and per_epoch.net_options == {"sampler": sampler}


def test_one_sampler_vocabulary():
    from sklimb.estimator import ImbalancedNetClassifier as Net
    from sklimb.resampling import SAMPLERS as RESAMPLING

    assert SAMPLERS is RESAMPLING
    assert {name for name in OPTIONS if name.startswith("epoch_")} == {
        f"epoch_{name}" for name in SAMPLERS}
    assert Net._parameter_constraints["sampler"][1].options == set(SAMPLERS)


@pytest.mark.parametrize("weighting, class_weight", [
    ("balanced", "balanced"), ("sqrt_balanced", "sqrt_balanced"),
    ("effective_number", "effective_number"), ("unweighted", None)])
def test_parse_weighting(weighting, class_weight):
    strategy = Strategy.parse(f"ce+{weighting}")
    assert (strategy.loss, strategy.class_weight, strategy.sampler) == ("ce", class_weight, None)


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_a_strategy_name_means_the_estimator_with_that_loss_at_its_defaults(loss):
    net = Strategy.parse(loss).build(random_state=0).named_steps["net"]
    defaults = ImbalancedNetClassifier(loss=loss, random_state=0).get_params(deep=False)
    assert net.get_params(deep=False) == defaults
    unweighted = Strategy.parse(f"{loss}+unweighted").build().named_steps["net"]
    assert unweighted.class_weight is None


def test_net_params_fill_in_what_the_strategy_leaves_open():
    shared = {"class_weight": "sqrt_balanced", "max_epochs": 3}
    assert Strategy.parse("focal").net_params(shared)["class_weight"] == "sqrt_balanced"
    assert Strategy.parse("focal+balanced").net_params(shared)["class_weight"] == "balanced"
    assert Strategy.parse("focal+unweighted").net_params(shared)["class_weight"] is None
    params = Strategy.parse("focal+gamma=1+drw").net_params(shared, random_state=4)
    assert params["max_epochs"] == 3 and params["loss__gamma"] == 1
    assert params["class_weight_start"] == 0.5 and params["random_state"] == 4


@pytest.mark.parametrize("key", ["loss", "random_state"])
def test_net_params_may_not_set_what_belongs_to_the_strategy(key):
    with pytest.raises(ValueError, match=f"net_params may not set \\['{key}'\\]"):
        Strategy.parse("ce").net_params({key: "focal" if key == "loss" else 3})


def test_parse_defaults_to_cross_entropy():
    assert Strategy.parse("balanced").loss == "ce"
    assert Strategy.parse("smote").loss == "ce"
    assert Strategy.parse("smote").sampler == "smote"


@pytest.mark.parametrize("spec, params", [
    ("focal+gamma=1", {"gamma": 1}),
    ("focal+gamma=0.5", {"gamma": 0.5}),
    ("focal+gamma=1e-1", {"gamma": 0.1}),
    ("ldam+max_margin=0.3+scale=10", {"max_margin": 0.3, "scale": 10}),
    ("ghm + bins = 5", {"bins": 5}),
])
def test_parse_loss_parameters(spec, params):
    strategy = Strategy.parse(spec)
    assert strategy.loss_params == params
    for key, value in params.items():
        assert type(strategy.loss_params[key]) is type(value)


def test_parse_parameter_keeps_text_that_is_not_a_number():
    assert Strategy.parse("focal+reduction=mean").loss_params == {"reduction": "mean"}


def test_parse_is_order_independent():
    forms = ["smote+focal+balanced+gamma=1", "balanced+gamma=1+focal+smote",
             "gamma=1+smote+balanced+focal", " focal + smote + balanced + gamma=1 "]
    parsed = [Strategy.parse(spec) for spec in forms]
    for strategy, spec in zip(parsed, forms, strict=True):
        assert strategy.name == spec
        assert (strategy.loss, strategy.sampler, strategy.class_weight, strategy.loss_params) == (
            "focal", "smote", "balanced", {"gamma": 1})


def test_parse_returns_strategy_objects_unchanged():
    strategy = Strategy(name="mine", loss="focal", loss_params={"gamma": 3.0})
    assert Strategy.parse(strategy) is strategy


@pytest.mark.parametrize("spec", ["fokal", "smote+foo", "ce+weighted", "ce+"])
def test_parse_unknown_part_lists_valid_names(spec):
    with pytest.raises(ValueError, match="unknown part") as info:
        Strategy.parse(spec)
    message = str(info.value)
    for name in [*LOSSES, *SAMPLERS, "balanced", "effective_number", "unweighted"]:
        assert name in message


@pytest.mark.parametrize("spec, kind", [
    ("ce+focal", "loss"),
    ("focal+focal", "loss"),
    ("smote+over+ce", "sampler"),
    ("ce+balanced+effective_number", "class weighting"),
])
def test_parse_duplicate_parts(spec, kind):
    with pytest.raises(ValueError, match=kind):
        Strategy.parse(spec)


@pytest.mark.parametrize("spec", ["", "   ", None, 3])
def test_parse_rejects_empty_and_non_strings(spec):
    with pytest.raises(ValueError, match="non-empty string"):
        Strategy.parse(spec)


def test_default_strategies_parse():
    names = [Strategy.parse(spec).name for spec in DEFAULT_STRATEGIES]
    assert names == list(DEFAULT_STRATEGIES)
    assert len(set(names)) == len(names)


# ------------------------------------------------------------------ build
def test_build_pipeline_steps():
    pipe = Strategy.parse("smote+focal+balanced+gamma=1").build(
        random_state=3, net_params={"max_epochs": 4, "batch_size": 16})
    assert isinstance(pipe, Pipeline)
    assert [name for name, _ in pipe.steps] == ["scale", "sampler", "net"]
    assert isinstance(pipe.named_steps["scale"], StandardScaler)
    assert isinstance(pipe.named_steps["sampler"], FunctionSampler)
    assert pipe.named_steps["sampler"].kw_args == {"sampler": "smote", "sampling_ratio": 1.0,
                                                   "random_state": 3}
    net = pipe.named_steps["net"]
    assert isinstance(net, ImbalancedNetClassifier)
    params = net.get_params()
    assert params["loss"] == "focal"
    assert params["class_weight"] == "balanced"
    assert params["loss__gamma"] == 1
    assert params["random_state"] == 3
    assert params["max_epochs"] == 4 and params["batch_size"] == 16
    clone(pipe)  # a valid scikit-learn estimator


def test_build_without_scaler_or_sampler():
    assert [n for n, _ in Strategy.parse("ce").build(scale=False).steps] == ["net"]
    assert [n for n, _ in Strategy.parse("ce").build().steps] == ["scale", "net"]
    steps = Strategy.parse("under+ce").build(scale=False)
    assert [n for n, _ in steps.steps] == ["sampler", "net"]
    assert steps.named_steps["sampler"].kw_args["sampler"] == "under"


def test_smote_strategy_fits_a_fold_with_a_three_sample_class():
    rng = np.random.default_rng(0)
    y = np.array([0] * 30 + [1] * 3)
    X = (rng.normal(size=(33, 4)) + y[:, None] * 2).astype(np.float32)
    # a plain SMOTE (k_neighbors=5) cannot handle this fold
    with pytest.raises(ValueError):
        SMOTE(random_state=0).fit_resample(X, y)
    pipe = Strategy.parse("smote+ce").build(random_state=0, net_params={"max_epochs": 2})
    pipe.fit(X, y)  # sklimb's SMOTE uses k = 2 neighbours in the class of 3
    assert pipe.named_steps["net"].class_counts_.tolist() == [30, 30]   # resampled fold
    assert pipe.predict(X).shape == (33,)


def test_smote_strategy_fits_a_fold_with_a_single_sample_class():
    rng = np.random.default_rng(1)
    y = np.array([0] * 12 + [1] * 6 + [2])
    X = rng.normal(size=(19, 3)).astype(np.float32)
    pipe = Strategy.parse("smote+focal").build(random_state=0, net_params={"max_epochs": 2})
    pipe.fit(X, y)
    assert pipe.named_steps["net"].class_counts_.tolist() == [12, 12, 12]



def test_network_options_and_tuned_decisions_parse_and_build():
    from sklimb.decision import TunedDecisionClassifier

    drw = Strategy.parse("ce+drw")
    assert drw.class_weight == "auto"  # the estimator's default: sqrt-balanced weights for CE
    assert drw.net_options == {"class_weight_start": 0.5}
    net = drw.build(net_params={"max_epochs": 4}).named_steps["net"]
    assert net.class_weight_start == 0.5 and net.max_epochs == 4
    combined = Strategy.parse("epoch_under+focal+prior+tuned")
    assert combined.net_options == {"sampler": "under", "prior_correction": True}
    built = combined.build()
    assert isinstance(built, TunedDecisionClassifier)
    assert built.estimator.named_steps["net"].sampler == "under"
