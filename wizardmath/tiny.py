"""The tiny world's model: a ~0.15M-parameter LLaMA-architecture causal LM and its tokenizer, built locally.

``init_tiny(TinyConfig(output="tiny"))`` trains a byte-level BPE tokenizer with the ``tokenizers``
library on text this project generates (prompt templates, answer format, symbolic word problems),
splitting digits one per token so column arithmetic is learnable, then initialises a
``LlamaForCausalLM`` from a config and saves both with ``save_pretrained``. Nothing is downloaded;
the same seed gives byte-identical files. Tests and the demo pipeline use it as their default model;
real runs point ``--model`` at LLaMA-2 or Mistral instead and nothing else changes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@dataclass
class TinyConfig:
    output: str = field(
        default="tiny-model",
        metadata={"help": "Folder to write the model and tokenizer to.", "aliases": ["--out"]},
    )
    seed: int = field(default=0, metadata={"help": "Seed for the weights (and corpus sampling)."})
    vocab_size: int = field(
        default=1024, metadata={"help": "Tokenizer vocabulary size (BPE merges up to this)."}
    )
    # Narrow trains best on a CPU budget: after a fixed 3.7 minutes of SFT, widths 192, 128, 96, 64
    # and 48 scored 11.5%, 25.5%, 35.5%, 68.5% / 29.5% (two seeds) and 70 / 51.5 / 73% (three seeds)
    # held out. More updates beat more width, and 48 varied least across seeds.
    hidden_size: int = field(default=48, metadata={"help": "Model width."})
    intermediate_size: int = field(default=144, metadata={"help": "MLP width."})
    num_hidden_layers: int = field(default=4, metadata={"help": "Transformer blocks."})
    num_attention_heads: int = field(default=4, metadata={"help": "Attention heads."})
    max_position_embeddings: int = field(default=1024, metadata={"help": "Longest sequence the model takes."})
    corpus_files: list[str] = field(
        default_factory=list, metadata={"help": "Extra text files to train the tokenizer on."}
    )
    corpus_size: int = field(
        default=3000, metadata={"help": "Generated sentences added to the tokenizer corpus."}
    )
    chat_template: bool = field(
        default=False,
        metadata={
            "help": (
                "Give the tokenizer a chat template, as an instruct model has (template 'auto' then "
                "means chat). Off: a base model, prompted in the WizardMath format like LLaMA-2."
            )
        },
    )
    template_tokens: bool = field(
        default=True,
        metadata={
            "help": (
                "Encode the fixed text of the WizardMath prompt template as two whole tokens (shorter "
                "sequences)."
            )
        },
    )

    def __post_init__(self) -> None:
        for name in (
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "max_position_embeddings",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if self.vocab_size < 300:
            raise ValueError(
                f"vocab_size must be >= 300 (256 bytes + specials + merges), got {self.vocab_size}"
            )


def generated_corpus(size: int, seed: int) -> Iterator[str]:
    """Text in the shapes the tiny model will see: templates, steps, answers, symbolic problems."""
    from wizardmath.data.templates import WIZARDMATH_TEMPLATE, format_solution

    rng = random.Random(seed)
    yield WIZARDMATH_TEMPLATE
    try:
        from wizardmath.evol.symbolic import sample_texts
    except ImportError:  # the symbolic world is optional for the tokenizer
        sample_texts = None
    if sample_texts is not None:
        yield from sample_texts(size, seed)
    words = (
        "how many much does do is are total each more less than left has have had gives gets buys sells "
        "apples books pens coins cards marbles eggs dollars students friends boxes bags per every then "
        "and the of to a in she he they what number sum difference product quotient twice half"
    ).split()
    for _ in range(size):
        a, b = rng.randint(0, 999), rng.randint(0, 999)
        op, value = rng.choice([("+", a + b), ("-", a - b), ("*", a * b)])
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        yield format_solution([f"{sentence} {a} {op} {b} = {value}."], str(value))


def template_pieces() -> list[str]:
    """The WizardMath prompt template's fixed text around ``{instruction}``."""
    from wizardmath.data.templates import WIZARDMATH_TEMPLATE

    return [piece for piece in WIZARDMATH_TEMPLATE.split("{instruction}") if piece]


def build_tokenizer(config: TinyConfig):
    """A byte-level BPE tokenizer with one token per digit, wrapped for ``transformers``."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    # One digit per token, so "128" is " 1","2","8" and carries are learnable. The space before a
    # number stays on its first digit: a bare space token before every number would give all numbers
    # the same previous token, and copying a number from the problem (an induction head matching
    # the word before it) could not tell them apart.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r" ?\d"), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = list(generated_corpus(config.corpus_size, config.seed))
    for path in config.corpus_files:
        texts.extend(Path(path).read_text(encoding="utf-8").splitlines())
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if config.template_tokens:
        # The prompt template's fixed text is a third of a tiny training sequence and carries no
        # information; as two added tokens it costs two positions. The text itself is unchanged:
        # it encodes and decodes exactly as before, so prompts stay in WizardMath's format.
        from tokenizers import AddedToken

        tokenizer.add_tokens([AddedToken(piece, normalized=False) for piece in template_pieces()])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        model_max_length=config.max_position_embeddings,
    )
    if config.chat_template:
        wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_model(config: TinyConfig, tokenizer):
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(config.seed)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_attention_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(model_config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model


def init_tiny(config: TinyConfig) -> Path:
    """Build and save the tiny model and tokenizer to ``config.output``; return the folder."""
    start = time.perf_counter()
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(config)
    model = build_model(config, tokenizer)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(
        f"tiny LLaMA: {params / 1e6:.2f}M parameters, vocab {len(tokenizer)}, "
        f"saved to {out} in {time.perf_counter() - start:.1f}s"
    )
    return out
