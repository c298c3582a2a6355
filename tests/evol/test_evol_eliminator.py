"""The eliminator's rules on replies real models give, and answer agreement."""

from __future__ import annotations

import pytest

from wizardmath.evol.eliminator import agreement, rule_reason

PARENT = "Tom has 5 apples. He buys 3 more apples. How many apples does Tom have now?"


@pytest.mark.parametrize(
    "text, reason",
    [
        # refusals and apologies (short)
        ("Sorry, I can't help with that.", "refusal"),
        ("I'm sorry, but I cannot rewrite this problem as it would become ambiguous.", "refusal"),
        ("As an AI language model, I am unable to create that.", "refusal"),
        # nothing but stop words / punctuation
        ("...", "stop_words_only"),
        ("It is what it is.", "stop_words_only"),
        ("", "empty"),
        # template words leaking into the problem
        ("Tom has 5 apples. #Rewritten Prompt#: He buys 3 more.", "template_leak"),
        ("Here is the given prompt rewritten: Tom has 6 apples.", "template_leak"),
        ("#Given Prompt#: Tom has 5 apples.", "template_leak"),
        # the parent again
        (PARENT, "no_information_gain"),
        ("tom has 5 apples he buys 3 more apples how many apples does tom have now", "no_information_gain"),
        # fine rewrites
        (
            "Tom has 5 apples. He buys 3 more apples. He gives 2 apples to Ann. "
            "How many apples does Tom have now?",
            None,
        ),
        (
            "Sorry-themed puzzle: " + "A shop has many apples and sells them. " * 12 + "How many are left?",
            None,
        ),
    ],
)
def test_rules(text, reason):
    verdict = rule_reason(text, PARENT)
    assert (verdict[0] if verdict else None) == reason


def test_agreement_majority_and_gold():
    replies = [
        "Step 1: 5 + 3 = 8.\nThe answer is: 8",
        "The answer is: 8.0",
        "The answer is: 9",
        "I have no idea how to solve this one.",
    ]
    vote = agreement(replies)
    assert vote.answer in ("8", "8.0") and vote.share == 0.5 and vote.members == [0, 1]
    assert vote.answers[3] is None
    gold = agreement(replies, gold="9")
    assert gold.answer == "9" and gold.members == [2]
    assert agreement([]).answer is None
    assert agreement(["I cannot solve this problem.", "The problem has no answer."]).share == 0.0
