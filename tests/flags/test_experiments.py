"""A/B experiment results on synthetic data with known answers.

Reference figures come from three places, named beside each: textbook tables and worked
examples (chi-square table, Newcombe 1998, Fisher's tea tasting), closed forms computed
here independently (e^{-x/2}, erfc, Evan Miller's formula for P(B > A)), and scipy 1.17
run once at development time (``scipy.stats``, ``scipy.integrate.quad``) and hard-coded,
so that the tests do not need scipy.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping

import pytest

from andon.flags._bayes import probabilities_to_be_best
from andon.flags._proportions import (
    PValueTest,
    difference_interval,
    fisher_exact_p,
    relative_interval,
    two_sided_p,
    wilson_interval,
)
from andon.flags._srm import chi_square_sf
from andon.flags.experiments import (
    ExperimentResults,
    ExperimentStatus,
    VariantCounts,
    assess_experiment,
    assess_sample_ratio,
)

Z95 = 1.959963984540054
"""The 97.5% point of the standard normal (scipy.stats.norm.ppf(0.975))."""


def _results(
    *counts: tuple[str, int, int],
    weights: Mapping[str, float] | None = None,
    confidence: float = 0.95,
) -> ExperimentResults:
    """The results of ``(name, exposures, conversions)`` counts, the first the control."""
    variants = [VariantCounts(*c) for c in counts]
    return assess_experiment(variants, counts[0][0], weights=weights, confidence=confidence)


# -- chi-square survival -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "df", "p"),
    [
        # Critical values from any chi-square table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4).
        (3.841, 1, 0.05),
        (5.991, 2, 0.05),
        (7.815, 3, 0.05),
        (9.488, 4, 0.05),
        (18.307, 10, 0.05),
        (6.635, 1, 0.01),
        (9.210, 2, 0.01),
        (15.086, 5, 0.01),
        (124.342, 100, 0.05),
        (77.929, 100, 0.95),
    ],
)
def test_chi_square_survival_matches_the_table(x: float, df: int, p: float) -> None:
    # The table rounds x to three decimals, which moves p by a few in the fifth place.
    assert chi_square_sf(x, df) == pytest.approx(p, abs=2e-4)


@pytest.mark.parametrize("x", [0.01, 0.5, 2.0, 10.0, 17.64, 60.0, 300.0])
def test_chi_square_survival_matches_its_closed_forms(x: float) -> None:
    # df = 2 is the exponential distribution; df = 1 is the square of a standard normal.
    assert chi_square_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-12)
    assert chi_square_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-12)


def test_chi_square_survival_at_its_edges() -> None:
    assert chi_square_sf(0.0, 3) == 1.0
    assert chi_square_sf(math.inf, 3) == 0.0
    with pytest.raises(ValueError, match="degrees of freedom"):
        chi_square_sf(1.0, 0)


# -- sample ratio mismatch -------------------------------------------------------------------


def test_sample_ratio_check_flags_5210_against_4790_at_50_50() -> None:
    check = assess_sample_ratio({"control": 5210, "treatment": 4790})

    assert check.chi_square == pytest.approx(17.64)  # 2 · 210² / 5000
    assert check.degrees_of_freedom == 1
    assert check.p_value == pytest.approx(math.erfc(math.sqrt(17.64 / 2)), rel=1e-12)
    assert check.p_value == pytest.approx(2.6691e-5, rel=1e-4)  # scipy.stats.chi2.sf(17.64, 1)
    assert check.skewed
    assert check.message == (
        "assignment is skewed: control 5,210 vs treatment 4,790 exposures where 50/50 was "
        "expected (chi-square p = 2.7e-5); results are not trustworthy"
    )


def test_sample_ratio_check_passes_5020_against_4980_at_50_50() -> None:
    check = assess_sample_ratio({"control": 5020, "treatment": 4980})

    assert check.p_value == pytest.approx(0.689157, abs=1e-6)  # scipy.stats.chi2.sf(0.16, 1)
    assert not check.skewed
    assert check.message == (
        "assignment matches the expected 50/50 split: control 5,020 vs treatment 4,980 "
        "exposures (chi-square p = 0.69)"
    )


def test_sample_ratio_check_follows_the_expected_weights() -> None:
    assert not assess_sample_ratio({"a": 9000, "b": 1000}, {"a": 90, "b": 10}).skewed
    assert assess_sample_ratio({"a": 9000, "b": 1000}).skewed


def test_sample_ratio_check_of_three_variants_has_two_degrees_of_freedom() -> None:
    check = assess_sample_ratio({"a": 3400, "b": 3300, "c": 3300})

    assert check.chi_square == pytest.approx(2.0)
    assert check.degrees_of_freedom == 2
    assert check.p_value == pytest.approx(math.exp(-1.0), rel=1e-12)
    assert "a 3,400, b 3,300 and c 3,300 exposures" in check.message
    assert "33.3/33.3/33.3 split" in check.message


def test_sample_ratio_check_threshold_is_a_parameter() -> None:
    assert not assess_sample_ratio({"a": 5210, "b": 4790}, threshold=1e-5).skewed


def test_sample_ratio_check_flags_a_variant_seen_where_none_was_expected() -> None:
    check = assess_sample_ratio({"a": 100, "b": 3}, {"a": 1, "b": 0})

    assert check.skewed
    assert check.p_value == 0.0
    assert json.loads(json.dumps(check.to_dict(), allow_nan=False))["chi_square"] is None


def test_sample_ratio_check_without_exposures_is_not_skewed() -> None:
    check = assess_sample_ratio({"a": 0, "b": 0})

    assert not check.skewed
    assert check.message == "no exposures yet to check against the expected 50/50 split"


def test_sample_ratio_check_refuses_weights_for_other_variants() -> None:
    with pytest.raises(ValueError, match="give a weight for every variant"):
        assess_sample_ratio({"a": 10, "b": 10}, {"a": 1, "c": 1})


# -- frequentist comparison --------------------------------------------------------------------


def test_wilson_interval_matches_newcombes_example() -> None:
    # Newcombe (1998), Statistics in Medicine 17:857, 81/263: 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263, Z95)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10.
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ],
)
def test_difference_interval_matches_newcombes_hybrid_score_examples(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    low, high = difference_interval(*counts, Z95)
    assert (round(low, 4), round(high, 4)) == expected


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # scipy.stats.contingency.relative_risk(...).confidence_interval(0.95), less 1.
        ((1200, 10000, 1000, 10000), (0.10861396557120906, 0.2989192313286846)),
        ((15, 200, 10, 200), (-0.30948044484305826, 2.258416048027225)),
    ],
)
def test_relative_interval_is_katzs_log_interval(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    assert relative_interval(*counts, Z95) == pytest.approx(expected, rel=1e-12)


def test_relative_interval_is_none_without_conversions() -> None:
    assert relative_interval(0, 500, 3, 500, Z95) is None
    assert relative_interval(3, 500, 0, 500, Z95) is None


def test_z_test_p_value_matches_the_hand_computation() -> None:
    # Pooled rate 0.11, z = 0.02 / sqrt(0.11 · 0.89 · 2/10000) = 4.5198;
    # 2 · scipy.stats.norm.sf(4.519846147055687) = 6.188458781738689e-06.
    p, test = two_sided_p(1200, 10000, 1000, 10000)
    assert test is PValueTest.Z_TEST
    assert p == pytest.approx(6.188458781738689e-06, rel=1e-9)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Fisher's lady tasting tea, 3 of 4 against 1 of 4: 34/70.
        ((3, 4, 1, 4), 34 / 70),
        # The example of scipy.stats.fisher_exact's documentation: [[1, 9], [11, 3]].
        ((1, 10, 11, 14), 0.0027594561852200836),
        # scipy.stats.fisher_exact([[6, 34], [5, 45]]) and ([[4, 496], [0, 500]]).
        ((6, 40, 5, 50), 0.5292684319035623),
        ((4, 500, 0, 500), 0.12424962575413928),
    ],
)
def test_fisher_exact_p_value_matches_known_tables(
    counts: tuple[int, int, int, int], expected: float
) -> None:
    assert fisher_exact_p(*counts) == pytest.approx(expected, rel=1e-9)


def test_fisher_exact_test_is_used_when_a_cell_expects_fewer_than_5_units() -> None:
    assert two_sided_p(6, 40, 5, 50)[1] is PValueTest.FISHER_EXACT  # expects 4.9 conversions
    assert two_sided_p(108, 1000, 100, 1000)[1] is PValueTest.Z_TEST


# -- probability to be best -------------------------------------------------------------------


def _miller(a: tuple[int, int], b: tuple[int, int]) -> float:
    """P(rate of b > rate of a) under Beta(1 + x, 1 + n - x) posteriors, in closed form
    (Evan Miller, "Formulas for Bayesian A/B testing", 2015): a sum over b's first shape."""
    alpha_a, beta_a = 1 + a[0], 1 + a[1] - a[0]
    alpha_b, beta_b = 1 + b[0], 1 + b[1] - b[0]

    def log_beta(x: float, y: float) -> float:
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    return math.fsum(
        math.exp(
            log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - log_beta(1 + i, beta_b)
            - log_beta(alpha_a, beta_a)
        )
        for i in range(alpha_b)
    )


def test_probability_to_be_best_is_even_between_identical_variants() -> None:
    assert probabilities_to_be_best([(100, 1000), (100, 1000)]) == pytest.approx((0.5, 0.5))
    assert probabilities_to_be_best([(0, 0)] * 3) == pytest.approx((1 / 3,) * 3)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        ((100, 1000), (120, 1000)),
        ((5, 50), (3, 50)),
        ((0, 10), (0, 20)),
        ((0, 100), (1, 100)),
        ((10, 10), (9, 10)),
        ((50_000, 1_000_000), (50_400, 1_000_000)),
    ],
)
def test_probability_to_be_best_matches_the_closed_form_for_two_variants(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    chances = probabilities_to_be_best([control, treatment])
    assert chances[1] == pytest.approx(_miller(control, treatment), abs=1e-5)
    assert sum(chances) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # scipy.integrate.quad of f_i · Π F_j with scipy.stats.beta (epsrel 1e-12).
        (
            [(100, 1000), (130, 1000), (95, 1000)],
            (0.017269907436394425, 0.9768214091077101, 0.005908683455895661),
        ),
        (
            [(30, 200), (30, 200), (30, 200), (40, 200)],
            (0.0706079406500736, 0.0706079406500736, 0.0706079406500736, 0.7881761780497788),
        ),
    ],
)
def test_probability_to_be_best_matches_numerical_integration_for_several_variants(
    counts: list[tuple[int, int]], expected: tuple[float, ...]
) -> None:
    assert probabilities_to_be_best(counts) == pytest.approx(expected, abs=1e-5)


def test_probability_to_be_best_of_a_clear_winner_is_above_99_percent() -> None:
    assert probabilities_to_be_best([(1000, 10000), (1200, 10000)])[1] > 0.99


# -- experiment results -----------------------------------------------------------------------


def test_experiment_with_a_clear_winner_is_significant_and_says_so() -> None:
    results = _results(("control", 10000, 1000), ("treatment", 10000, 1200))

    assert results.status is ExperimentStatus.SIGNIFICANT
    assert results.message == (
        "treatment converts 12.0% vs control 10.0% (+20.0%, 95% CI +10.9% to +29.9%, "
        "p < 0.001); probability to be best > 99.9%"
    )
    control, treatment = results.variants
    assert control.rate == 0.1
    assert control.lift is None
    lift = treatment.lift
    assert lift is not None
    assert lift.absolute == pytest.approx(0.02)
    assert lift.relative == pytest.approx(0.2)
    assert lift.p_value == pytest.approx(6.188458781738689e-06, rel=1e-9)
    assert lift.significant
    assert treatment.probability_best == pytest.approx(_miller((1000, 10000), (1200, 10000)))


def test_experiment_without_a_difference_is_not_significant() -> None:
    results = _results(("control", 1000, 100), ("treatment", 1000, 108))

    assert results.status is ExperimentStatus.NOT_SIGNIFICANT
    assert results.message == (
        "no significant difference: treatment converts 10.8% vs control 10.0% (+8.0%, "
        "95% CI -16.5% to +39.7%, p = 0.56); probability to be best 72.1%"
    )


def test_experiment_with_a_skewed_assignment_is_not_trusted() -> None:
    results = _results(("control", 5210, 500), ("treatment", 4790, 480))

    assert results.status is ExperimentStatus.SAMPLE_RATIO_MISMATCH
    assert results.sample_ratio is not None
    assert results.message == results.sample_ratio.message


def test_experiment_checks_the_split_the_flag_asked_for() -> None:
    results = _results(
        ("control", 9000, 900),
        ("treatment", 1000, 100),
        weights={
            "control": 90,
            "treatment": 10,
        },
    )

    assert results.status is ExperimentStatus.NOT_SIGNIFICANT


def test_experiment_below_the_minimum_sample_has_not_enough_data() -> None:
    results = _results(("control", 50, 5), ("treatment", 40, 6))

    assert results.status is ExperimentStatus.NOT_ENOUGH_DATA
    assert results.message == (
        "not enough data yet: each variant needs 100 exposures; control has 50, treatment has 40"
    )
    # The numbers are still there for whoever looks; only the verdict waits.
    assert results.variants[1].lift is not None


def test_experiment_with_a_single_variant_has_nothing_to_compare() -> None:
    results = _results(("control", 500, 30))

    assert results.status is ExperimentStatus.NOT_ENOUGH_DATA
    assert results.message == "nothing to compare: the experiment has a single variant, control"
    assert results.sample_ratio is None
    assert results.variants[0].probability_best == 1.0


def test_experiment_without_conversions_keeps_finite_intervals() -> None:
    results = _results(("control", 500, 0), ("treatment", 500, 0))

    lift = results.variants[1].lift
    assert lift is not None
    assert lift.relative is None
    assert lift.relative_interval is None
    assert all(math.isfinite(bound) for bound in lift.absolute_interval)
    assert lift.p_value == 1.0
    assert results.message == (
        "no significant difference: treatment converts 0% vs control 0% (+0 points, "
        "95% CI -0.76 to +0.76 points, p = 1.00); probability to be best 50.0%"
    )


def test_experiment_whose_control_converted_nobody_has_no_relative_lift() -> None:
    lift = _results(("control", 500, 0), ("treatment", 500, 4)).variants[1].lift

    assert lift is not None
    assert lift.relative is None
    assert lift.test is PValueTest.FISHER_EXACT
    assert lift.p_value == pytest.approx(0.12424962575413928, rel=1e-9)


def test_experiment_variant_without_exposures_is_left_out_of_the_comparison() -> None:
    results = _results(("control", 500, 50), ("treatment", 0, 0))

    treatment = results.variants[1]
    assert treatment.rate is None
    assert treatment.probability_best is None
    assert treatment.lift is None
    assert results.variants[0].probability_best == 1.0
    assert results.status is ExperimentStatus.SAMPLE_RATIO_MISMATCH


def test_experiment_adjusts_for_several_comparisons() -> None:
    counts = (("control", 1000, 100), ("b", 1000, 130), ("c", 1000, 95))

    # b alone has p = 0.035, below 0.05 but above Holm's first step, 0.05 / 2.
    results = _results(*counts)
    assert results.status is ExperimentStatus.NOT_SIGNIFICANT
    assert results.message.startswith(
        "no significant difference after Holm's adjustment for 2 comparisons: b converts"
    )
    assert _results(*counts, confidence=0.9).status is ExperimentStatus.SIGNIFICANT


def test_experiment_confidence_sets_the_interval() -> None:
    wide = _results(("control", 1000, 100), ("treatment", 1000, 108), confidence=0.99)

    assert "99% CI" in wide.message
    lift = wide.variants[1].lift
    assert lift is not None
    low, high = lift.absolute_interval
    assert high - low > 0.0537  # wider than the 95% interval, -0.0189 to 0.0349


@pytest.mark.parametrize(
    ("counts", "control", "message"),
    [
        ([VariantCounts("a", 10, 12)], "a", "12 conversions but only 10 exposures"),
        ([VariantCounts("a", 10, 1)], "b", "the control 'b' is not among"),
        ([VariantCounts("a", 10, 1), VariantCounts("a", 10, 1)], "a", "repeat"),
        ([VariantCounts("a", -1, 0)], "a", "negative"),
    ],
)
def test_experiment_refuses_counts_no_correct_query_gives(
    counts: list[VariantCounts], control: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        assess_experiment(counts, control)


def test_experiment_refuses_a_confidence_outside_0_and_1() -> None:
    with pytest.raises(ValueError, match="confidence must be between 0 and 1"):
        _results(("a", 10, 1), ("b", 10, 1), confidence=95)


def test_experiment_results_are_plain_json() -> None:
    results = _results(("control", 10000, 1000), ("treatment", 10000, 1200))

    data = json.loads(json.dumps(results.to_dict(), allow_nan=False))
    assert data["status"] == "significant"
    assert data["variants"][1]["lift"]["test"] == "two_proportion_z"
    assert data["variants"][1]["lift"]["relative_interval"] == pytest.approx(
        [0.10861396557120906, 0.2989192313286846]
    )
    assert data["sample_ratio"]["skewed"] is False


# -- honesty under simulation ------------------------------------------------------------------


def _converted(rng: random.Random, units: int, rate: float) -> int:
    return sum(rng.random() < rate for _ in range(units))


def test_a_a_experiments_are_significant_about_5_percent_of_the_time() -> None:
    rng = random.Random(20240601)
    false_alarms = covered = 0
    for _ in range(200):
        results = _results(
            ("control", 1000, _converted(rng, 1000, 0.1)),
            ("treatment", 1000, _converted(rng, 1000, 0.1)),
        )
        lift = results.variants[1].lift
        assert lift is not None
        false_alarms += lift.p_value < 0.05
        low, high = lift.absolute_interval
        covered += low <= 0.0 <= high

    # 10 expected; the bounds are over 3 standard deviations wide (this seed gives 8).
    assert 2 <= false_alarms <= 20
    assert covered >= 180  # 190 expected (this seed gives 192)


def test_fair_assignments_fail_the_sample_ratio_check_at_its_own_rate() -> None:
    rng = random.Random(20240601)
    alarms = 0
    for _ in range(200):
        control = _converted(rng, 2000, 0.5)
        alarms += assess_sample_ratio({"a": control, "b": 2000 - control}).p_value < 0.05

    assert 2 <= alarms <= 20  # 10 expected (this seed gives 10)


def test_a_real_difference_is_found_most_of_the_time() -> None:
    rng = random.Random(20240601)
    found = sum(
        _results(
            ("control", 2000, _converted(rng, 2000, 0.10)),
            ("treatment", 2000, _converted(rng, 2000, 0.14)),
        ).status
        is ExperimentStatus.SIGNIFICANT
        for _ in range(50)
    )

    # The z-test's power for 10% against 14% with 2,000 units each is about 0.97.
    assert found >= 45
