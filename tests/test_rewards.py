"""Reward terms, their combination, and the guarantee that a bad reward never stops training."""

from __future__ import annotations

import math
import os
import time

import pytest

from wizardmath import rewards as R
from wizardmath.workers import WorkerPool

GOOD = " Step 1: 5 + 7 = 12.\nThe answer is: 12"
WRONG = " Step 1: 5 + 7 = 13.\nThe answer is: 13"
NO_ANSWER = " Step 1: 5 + 7 = 12, then 3 more."  # no "The answer is"; last number 3


def args(**kw) -> R.RewardArguments:
    return R.RewardArguments(**kw)


# --- built-in terms


def test_verifier_and_format_terms():
    verifier = R.VerifierReward(workers=1, timeout=5)
    assert verifier([GOOD, WRONG, GOOD], answer=["12", "12", None]) == [1.0, 0.0, None]
    assert verifier([GOOD]) == [None]  # no gold column at all: not applicable
    assert R.format_reward([GOOD, NO_ANSWER, "The answer is: "]) == [1.0, 0.0, 0.0]
    # conversational completions (TRL passes message lists)
    assert R.format_reward([[{"role": "assistant", "content": GOOD}]]) == [1.0]


class FakeIRM:
    calls = 0

    def score(self, problems):
        FakeIRM.calls += 1
        return [0.0 if "easy" in p else 2.0 for p in problems]


def fake_prm():
    """reward_models' PRM with its network replaced: the real splitting and aggregation run."""
    from reward_models.prm import ProcessRewardModel

    class FakePRM(ProcessRewardModel):
        def __init__(self):
            pass

        def score_batch(self, items, batch_size=16):
            return [[0.9, 0.2, 0.7][: len(steps)] for _, steps in items]

    return FakePRM()


def test_arithmetic_step_reward_marks_the_end_of_each_false_claim():
    text = " Step 1: 20 - 7 = 11.\nStep 2: 11 + 3 = 14.\nStep 3: 14 * 2 = 29.\nThe answer is: 29"
    events = R.arithmetic_step_rewards([text, GOOD, "", "no numbers at all"])
    assert [v for _, v in events[0]] == [-1.0, -1.0]  # 20 - 7 = 11 and 14 * 2 = 29; 11 + 3 = 14 holds
    assert [text[end - 2 : end] for end, _ in events[0]] == ["11", "29"]
    assert events[1:] == [[], [], []]


def test_arithmetic_term_is_the_share_of_claims_that_hold():
    two_of_three = " Step 1: 20 - 7 = 13.\nStep 2: 13 + 3 = 16.\nStep 3: 16 * 2 = 30.\nThe answer is: 30"
    assert R.arithmetic_reward([two_of_three, GOOD, WRONG, "The answer is: 4"]) == [
        pytest.approx(2 / 3),
        1.0,
        0.0,
        None,
    ]


def test_arithmetic_step_reward_survives_hostile_text():
    huge = (
        " Step 1: " + "9" * 5000 + " ** 99999 = 1.\nThe answer is: 1"
    )  # too big to check: unknown, not wrong
    start = time.perf_counter()
    assert R.arithmetic_step_rewards([huge, None, ["not", "text"], {"a": 1}]) == [[], [], [], []]
    assert time.perf_counter() - start < 2


def test_irm_is_sigmoid_of_the_problem_score_and_cached():
    irm = R.IRMReward(FakeIRM())
    out = irm(["a", "b", "c"], problem=["easy one", "hard one", "easy one"])
    assert out == pytest.approx([0.5, 1 / (1 + math.exp(-2)), 0.5])
    calls = FakeIRM.calls
    irm(["a"], problem=["hard one"])
    assert FakeIRM.calls == calls  # cached: the policy samples the same problem many times


def test_prm_aggregates_step_scores():
    solution = " Step 1: a.\nStep 2: b.\nStep 3: c.\nThe answer is: 1"
    prm = fake_prm()
    assert R.PRMReward(prm, "min")([solution], problem=["p"]) == pytest.approx([0.2])
    assert R.PRMReward(prm, "prod")([solution], problem=["p"]) == pytest.approx([0.9 * 0.2 * 0.7])
    assert R.PRMReward(prm, "last")([solution], problem=["p"]) == pytest.approx([0.7])
    assert R.PRMReward(prm, "mean")([solution, ""], problem=["p", "p"]) == pytest.approx(
        [0.6, 0.0]
    )  # "": no steps
    with pytest.raises(ValueError, match="valid: min, prod, last, mean"):
        R.PRMReward(prm, "max")([solution], problem=["p"])


# --- composition


PARTS = {"irm": [0.5, 0.8, None, None], "prm": [0.4, 0.5, 0.9, None], "verifier": [1.0, 0.0, 1.0, None]}


def test_product_is_the_papers_reward():
    assert R.combine_product(PARTS, {}, 0.0) == pytest.approx([0.2, 0.0, 0.9, None])
    only_rms = {k: PARTS[k] for k in ("irm", "prm")}
    assert R.combine_product(only_rms, {}, 0.0)[:2] == pytest.approx([0.2, 0.4])


def test_weighted_sum_skips_not_applicable_terms():
    out = R.combine_weighted_sum(PARTS, {"irm": 1.0, "prm": 2.0, "verifier": 0.5}, 0.0)
    assert out == pytest.approx([0.5 + 0.8 + 0.5, 0.8 + 1.0, 1.8 + 0.5, None])


def test_verifier_gated():
    out = R.combine_verifier_gated(PARTS, {}, -1.0)
    # correct: product of the other terms; wrong: on_wrong; no gold: the other terms alone
    assert out == pytest.approx([0.2, -1.0, 0.9, 1.0])


def test_build_reward_from_config_and_log_terms():
    reward = R.build_reward(
        args(reward_funcs=["verifier", "format"], reward_combine="weighted_sum"), weights=[1.0, 0.1]
    )
    out = reward([GOOD, WRONG, NO_ANSWER], answer=["12", "12", "12"])
    assert out == pytest.approx([1.1, 0.1, 0.0])
    assert reward.last_terms == {"verifier": [1.0, 0.0, 0.0], "format": [1.0, 1.0, 0.0]}
    assert reward.__name__ == "reward_weighted_sum"


@pytest.mark.parametrize(
    ("kw", "weights", "message"),
    [
        ({"reward_funcs": ["nope"]}, None, "valid: verifier, format, arithmetic, irm, prm"),
        ({"reward_combine": "max"}, None, "valid: product, weighted_sum, verifier_gated"),
        (
            {"reward_funcs": ["verifier", "format"]},
            [1.0, 2.0],
            "only apply with reward_combine: weighted_sum",
        ),
        ({"reward_funcs": ["verifier"], "reward_combine": "weighted_sum"}, [1.0, 2.0], "2 values for 1"),
        ({"reward_funcs": ["format"], "reward_combine": "verifier_gated"}, None, "needs 'verifier'"),
        ({"reward_funcs": ["irm"]}, None, "needs irm_path"),
        (
            {"reward_funcs": ["prm"], "prm_path": "x", "prm_aggregate": "max"},
            None,
            "valid: min, prod, last, mean",
        ),
    ],
)
def test_bad_configs_say_what_to_set(kw, weights, message):
    with pytest.raises(ValueError, match=message):
        args(**kw).validate_rewards(weights)


def test_import_path_terms():
    reward = R.build_reward(args(reward_funcs=["wizardmath.rewards:format_reward"]))
    assert reward([GOOD, NO_ANSWER]) == [1.0, 0.0]
    reward.close()
    with pytest.raises(ValueError, match="cannot import"):
        R.build_reward(args(reward_funcs=["wizardmath.rewards:nothing_here"]))


# --- a bad reward never stops training


def flaky(completions, answer=None, **_):
    text = completions[0]
    if "hang" in text:
        time.sleep(60)
    if "raise" in text:
        raise RuntimeError("reward model exploded")
    if "die" in text:
        os._exit(3)
    return [float(len(text))]


def test_hanging_raising_or_dying_sample_scores_zero_and_the_rest_go_on(monkeypatch):
    monkeypatch.setitem(R.REWARDS, "flaky", R.RewardSpec(lambda a: flaky, True, "test"))
    reward = R.build_reward(args(reward_funcs=["flaky"], reward_timeout=1.0, reward_workers=2))
    try:
        start = time.monotonic()
        out = reward(["ab", "hang", "abcd", "raise", "die", "abc"], answer=["1"] * 6)
        elapsed = time.monotonic() - start
        assert out == [2.0, 0.0, 4.0, 0.0, 0.0, 3.0]
        assert elapsed < 5  # the hang was killed at the 1 s limit, not waited for
        assert reward.last_errors == {"flaky": 3}
        errors = reward.terms[0].errors
        assert any("timeout" in e for e in errors) and any("exploded" in e for e in errors)
        assert any("crashed" in e for e in errors)
        # the pool replaced its workers: the next batch is scored normally
        assert reward(["xyz", "hang"], answer=["1", "1"]) == [3.0, 0.0]
    finally:
        reward.close()


def test_in_process_term_that_raises_zeroes_the_batch_only():
    def broken(completions, **_):
        raise RuntimeError("boom")

    term = R.SafeReward("broken", broken)
    with pytest.warns(UserWarning, match="boom"):
        assert term(["a", "b"]) == [0.0, 0.0]
    nan = R.SafeReward("nan", lambda completions, **_: [float("nan"), 1.0])
    assert nan(["a", "b"]) == [0.0, 1.0]


def test_isolated_closure_terms_run_in_reused_workers():
    scale = 3.0
    pool = WorkerPool(workers=1, timeout=5)
    term = R.SafeReward("scaled", lambda completions, **_: [scale * len(completions[0])], pool)
    try:
        assert term(["ab", "a"], answer=["x", "y"]) == [6.0, 3.0]
        pids = {o.value for o in pool.run([(os.getpid, ())] * 2)}
        assert term(["abc"]) == [9.0] and {o.value for o in pool.run([(os.getpid, ())])} == pids
    finally:
        pool.close()
