"""Shared fixtures: the tiny model (built once per session) and the real data in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("WIZARDMATH_SHARED_DATA", REPO.parent / "shared" / "data"))

# Tests never touch a hub: anything that tries fails fast instead of hanging.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny model gains nothing from threads, and on a busy 2-core machine they fight."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def shared_file(relative: str) -> Path:
    """A file under ../shared/data, or skip the test when this checkout has no shared data."""
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture(scope="session")
def gsm8k_test() -> Path:
    return shared_file("gsm8k/test.jsonl")


@pytest.fixture(scope="session")
def gsm8k_train() -> Path:
    return shared_file("gsm8k/train.jsonl")


@pytest.fixture(scope="session")
def math500_test() -> Path:
    return shared_file("math500/test.jsonl")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default tiny LLaMA model and tokenizer, built once for the whole session."""
    from wizardmath.tiny import TinyConfig, init_tiny

    return init_tiny(TinyConfig(output=str(tmp_path_factory.mktemp("tiny") / "model")))


@pytest.fixture(scope="session")
def tiny_chat_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a chat template, as an instruct model has: template 'auto' means chat."""
    import shutil

    from transformers import AutoTokenizer

    from wizardmath.tiny import CHAT_TEMPLATE

    folder = tmp_path_factory.mktemp("tiny-chat") / "model"
    shutil.copytree(tiny_model_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder
