"""Stage configs: one dataclass per stage, loaded from YAML with command-line overrides.

Precedence is fixed: dataclass default < YAML file (``--config FILE``) < command line
(``--learning_rate 1e-5``; ``--data-path`` and ``--data_path`` are the same flag). Trainer stages
extend ``transformers.TrainingArguments`` / TRL configs, so every trainer flag works unchanged.

The command line is parsed by transformers' ``HfArgumentParser``; this module adds what it lacks:
YAML keys are checked against the dataclass fields and their types *before* anything runs, and
every error names the file and the key (``ConfigError: configs/tiny/sft.yaml: key 'lr': unknown``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import math
import re
import types
import typing
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Shared flag spellings: ``--output`` means ``output_dir`` for trainer configs that inherit it.
ALIASES = {"output": "output_dir"}


class ConfigError(ValueError):
    """A config file or flag is wrong; the message names the file (or ``command line``) and key."""


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolvable forward refs in a third-party base class
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _type_ok(value: Any, annotation: Any) -> bool:
    """True when a YAML value fits ``annotation``; unknown or exotic annotations accept anything."""
    if annotation is Any or isinstance(annotation, str | typing.TypeVar):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if annotation is type(None):
        return value is None
    if origin in (list, tuple, Sequence, set, frozenset):
        if not isinstance(value, list | tuple):
            return False
        inner = args[0] if args and args[-1] is not Ellipsis else (args[0] if args else Any)
        return all(_type_ok(v, inner) for v in value) if len(args) <= 2 else True
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum):
            return value in {m.value for m in annotation} or value in annotation.__members__
        if annotation is bool:
            return isinstance(value, bool)
        if annotation is float:
            return isinstance(value, int | float) and not isinstance(value, bool)
        if annotation is int:
            return isinstance(value, int) and not isinstance(value, bool)
        if annotation is str:
            return isinstance(value, str)
        return True
    return True


def check_mapping(cls: type, values: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate ``values`` against ``cls``'s fields; return them with aliases resolved."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(values).__name__}")
    hints = _field_types(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    # A config may accept more in a file than on the command line (``RunArguments``: `resume: false`).
    hints.update(getattr(cls, "CONFIG_TYPES", {}))
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = str(key).replace("-", "_")
        if name not in names and ALIASES.get(name) in names:
            name = ALIASES[name]
        if name not in names:
            close = [n for n in sorted(names) if n.startswith(name[:4])][:5]
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            raise ConfigError(f"{where}: key '{key}': unknown for {cls.__name__}{hint}")
        if value is False and typing.get_origin(hints.get(name)) is list:
            value = []  # `key: false` turns a list setting off (e.g. `decontaminate: false`)
        if value is not None and not _type_ok(value, hints.get(name, Any)):
            want = getattr(hints.get(name), "__name__", str(hints.get(name)))
            raise ConfigError(f"{where}: key '{key}': expected {want}, got {value!r}")
        out[name] = value
    return out


def _strict_loader() -> type:
    """PyYAML's safe loader, less two surprises of YAML 1.1: ``1e-3`` read as text (1.1 wants a dot in
    a float; users, YAML 1.2 and JSON do not) and a repeated key silently taking the last value."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
            first_line: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` may restate keys: that is what it is for
                key = self.construct_object(key_node, deep=True)
                with contextlib.suppress(TypeError):  # an unhashable key: the base class reports it
                    if key in first_line:
                        raise ConfigError(
                            f"{key_node.start_mark.line + 1}: key '{key}' appears twice "
                            f"(first on line {first_line[key]}); keep one"
                        )
                    first_line[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep)

    float_with_exponent = r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"
    StrictLoader.add_implicit_resolver(  # copies the resolver table: yaml.SafeLoader stays as it is
        "tag:yaml.org,2002:float", re.compile(float_with_exponent), list("-+0123456789")
    )
    return StrictLoader


def load_yaml(text: str, where: str) -> Any:
    """``text`` as YAML (``1e-3`` a number, a repeated key an error); errors are one ``ConfigError``
    line that starts with ``where`` (a file name, say)."""
    import yaml

    global _LOADER
    if _LOADER is None:
        _LOADER = _strict_loader()
    try:
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 (a SafeLoader subclass)
    except ConfigError as err:
        raise ConfigError(f"{where}:{err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML: {problem}") from None


_LOADER: type | None = None


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start + 1})") from None
    data = load_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys to values")
    return data


@contextlib.contextmanager
def _old_checkpointing_name_accepted() -> Iterator[None]:
    """transformers 5.24+ warns on every run that ``gradient_checkpointing`` (which the HF parser
    passes whether set or not) is a deprecated alias of ``activation_checkpointing``; the configs keep
    the old name, the only one our minimum transformers (5.2) knows."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`gradient_checkpointing` is deprecated", FutureWarning)
        yield


# Counts that must be at least 1 in every stage (0 would fail late, inside another library).
AT_LEAST_ONE = ("gradient_accumulation_steps", "num_samples", "num_generations")


def check_values(config: Any) -> None:
    """Values no stage can run with, checked with the config rather than once the model has loaded:
    a batch size or count below 1, a NaN anywhere, a learning rate that is infinite or negative."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name, None)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, int) and (f.name.endswith("batch_size") or f.name in AT_LEAST_ONE) and value < 1:
            raise ValueError(f"{f.name} must be at least 1, got {value}")
        if isinstance(value, float) and math.isnan(value):
            raise ValueError(f"{f.name} is NaN; give a number")
        if f.name.endswith("learning_rate") and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{f.name} must be a finite number >= 0, got {value}")


def load_config(cls: type[T], path: str | Path | None = None, **overrides: Any) -> T:
    """Build ``cls`` from an optional YAML file and keyword overrides (the Python-side twin of the CLI)."""
    values = check_mapping(cls, read_yaml(path), str(path)) if path else {}
    values.update(check_mapping(cls, overrides, "overrides"))
    try:
        with _old_checkpointing_name_accepted():
            config = cls(**values)
        check_values(config)
        return config
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path or 'overrides'}: {err}") from err


def field_default(f: dataclasses.Field) -> Any:
    """A dataclass field's default value (``None`` when it has none)."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def build_parser(cls: type, prog: str | None = None, description: str = "") -> Any:
    """The ``HfArgumentParser`` of ``cls`` plus ``--config`` and the aliases, every default the
    dataclass's own."""
    import argparse

    from transformers import HfArgumentParser

    parser = HfArgumentParser(cls, prog=prog, description=description)
    parser.add_argument(
        "--config", default=None, metavar="FILE", help="YAML file with this stage's keys; flags override it."
    )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for action in parser._actions:
        if action.option_strings and action.option_strings[0].startswith("--no_") and action.dest in fields:
            action.help = f"Same as --{action.dest} false."  # HfArgumentParser gives it --X's, backwards
        if action.dest in fields and action.default is None and field_default(fields[action.dest]):
            # HfArgumentParser drops the default of a `str | list[str]` field (report_to: "none" became
            # [None], which the trackers' set-up refuses): without --config, the dataclass default.
            action.default = field_default(fields[action.dest])
    for alias, target in ALIASES.items():
        if target in fields and alias not in fields:
            parser.add_argument(
                f"--{alias}", dest=target, default=argparse.SUPPRESS, help=f"Same as --{target}."
            )
    return parser


def parse_config(cls: type[T], argv: Sequence[str], prog: str | None = None, description: str = "") -> T:
    """Parse ``[--config FILE] [--key value ...]`` into ``cls``; ``--help`` prints every field's help."""
    import argparse

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(list(argv))

    parser = build_parser(cls, prog, description)
    if known.config:
        parser.set_defaults(**check_mapping(cls, read_yaml(known.config), known.config))
    try:
        # A second item holds our own --config flag, which is not a dataclass field.
        with _old_checkpointing_name_accepted():
            config = parser.parse_args_into_dataclasses(args=list(argv), look_for_args_file=False)[0]
        check_values(config)
    except ValueError as err:
        flags = [a for a in argv if a.startswith("--") and a.split("=")[0] != "--config"]
        where = f"{known.config} + command line" if known.config and flags else known.config or "command line"
        raise ConfigError(f"{where}: {err}") from err
    return config


def to_dict(config: Any) -> dict[str, Any]:
    """JSON-friendly view of a config, for run summaries."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    out = {}
    for f in dataclasses.fields(config):
        v = getattr(config, f.name)
        out[f.name] = v.value if isinstance(v, enum.Enum) else v
    return out
