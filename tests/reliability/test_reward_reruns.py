"""Re-runs of score and label-prm redo nothing they already did: rows without an id are not doubled,
dropped records are not redone or counted twice."""

from __future__ import annotations

import json

from reward_models import irm as irm_module
from reward_models.score import ScoreConfig, score_command


class LengthIRM:
    calls = 0

    def score(self, texts, batch_size=16):
        LengthIRM.calls += len(texts)
        return [float(len(t)) for t in texts]


def test_score_rerun_does_not_double_rows_without_an_id(tmp_path, monkeypatch):
    monkeypatch.setattr(
        irm_module.InstructionRewardModel, "from_pretrained", classmethod(lambda cls, *a, **k: LengthIRM())
    )
    data = tmp_path / "problems.jsonl"
    data.write_text(
        "".join(json.dumps({"problem": f"What is {i} plus {i}?"}) + "\n" for i in range(3))
        + json.dumps({"id": "x", "problem": "What is 9 plus 9?"})
        + "\n"
    )
    out = tmp_path / "scored.jsonl"
    config = dict(model="irm", kind="irm", data_path=str(data), output=str(out), device="cpu")
    assert score_command(ScoreConfig(**config)) == 0
    first = out.read_bytes()
    assert [json.loads(line)["id"] for line in first.splitlines()] == ["line:1", "line:2", "line:3", "x"]
    assert score_command(ScoreConfig(**config)) == 0
    assert out.read_bytes() == first and LengthIRM.calls == 4  # nothing scored or written twice
    with data.open("a") as handle:  # more input arrived: only it is scored
        handle.write(json.dumps({"problem": "What is 5 plus 5?"}) + "\n")
    assert score_command(ScoreConfig(**config)) == 0
    assert [json.loads(line)["id"] for line in out.read_bytes().splitlines()][4:] == [
        "line:5"
    ] and LengthIRM.calls == 5


def test_label_prm_rerun_skips_dropped_records(tmp_path):
    from reward_models.labelers import LabelConfig, label_prm

    rows = [
        {
            "id": "known",
            "problem": "Tom has 5 apples and buys 3 more. How many?",
            "answer": "8",
            "solution": " Step 1: 5 + 3 = 8.\nThe answer is: 8",
        },
        {
            "id": "unknown",
            "problem": "Tom has 5 apples and buys 3 more. How many?",
            "solution": " Step 1: He has some now.\nThe answer is: 8",
        },
    ]
    source, out = tmp_path / "solutions.jsonl", tmp_path / "labels.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = LabelConfig(labeler="rule", solutions_path=str(source), output=str(out), unknown="drop")
    first = label_prm(config)
    assert (first["records"], first["dropped"]) == (1, 1)
    assert (tmp_path / "labels.jsonl.dropped").read_text() == '{"id": "unknown"}\n'
    again = label_prm(config)
    assert (again["records"], again["dropped"]) == (0, 0)  # nothing redone
    totals = json.loads((tmp_path / "labels.jsonl.stats.json").read_text())
    assert (totals["records"], totals["dropped"]) == (1, 1)  # not counted twice
    label_prm(LabelConfig(**{**vars(config), "overwrite": True}))
    assert (
        tmp_path / "labels.jsonl.dropped"
    ).read_text() == '{"id": "unknown"}\n'  # started clean, dropped once
