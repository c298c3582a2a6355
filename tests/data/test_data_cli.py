from __future__ import annotations

import json

from wizardmath.cli import main


def test_data_show_gsm8k(gsm8k_test, capsys):
    assert main(["data", "show", "--dataset", "gsm8k", "--data-path", str(gsm8k_test), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert '"answer": "18"' in out and '"id": "gsm8k/test/1"' in out


def test_data_show_math500(math500_test, capsys):
    assert (
        main(["data", "show", "--dataset", "math500", "--data-path", str(math500_test), "--limit", "1"]) == 0
    )
    assert r'"answer": "\\left( 3, \\frac{\\pi}{2} \\right)"' in capsys.readouterr().out


def test_data_stats_and_convert(math500_test, tmp_path, capsys):
    assert main(["data", "stats", "--dataset", "math500", "--data-path", str(math500_test)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["records"] == 500 and sum(stats["levels"].values()) == 500
    out = tmp_path / "m.jsonl"
    assert (
        main(
            [
                "data",
                "convert",
                "--dataset",
                "math500",
                "--data-path",
                str(math500_test),
                "--limit",
                "3",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert len(out.read_text().splitlines()) == 3


def test_data_errors_exit_nonzero_with_message(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n')
    assert main(["data", "show", "--dataset", "gsm8k", "--data-path", str(bad)]) == 1
    assert f"{bad}:1: field 'answer'" in capsys.readouterr().err
    assert main(["data", "show", "--dataset", "nope"]) == 1
