"""Problem records, data-set loaders and prompt templates."""

from wizardmath.data.loaders import (
    HUB_SOURCES,
    gsm8k_answer,
    load_problems,
    local_rows,
    parse_field_map,
    save_problems,
)
from wizardmath.data.records import MathProblem
from wizardmath.data.templates import (
    ANSWER_PREFIX,
    TEMPLATES,
    WIZARDMATH_TEMPLATE,
    chat_messages,
    format_prompt,
    format_solution,
    has_chat_template,
    resolve_template,
    template_for_model,
)

__all__ = [
    "ANSWER_PREFIX",
    "HUB_SOURCES",
    "TEMPLATES",
    "WIZARDMATH_TEMPLATE",
    "MathProblem",
    "chat_messages",
    "format_prompt",
    "format_solution",
    "has_chat_template",
    "resolve_template",
    "template_for_model",
    "gsm8k_answer",
    "load_problems",
    "local_rows",
    "parse_field_map",
    "save_problems",
]
