"""Dataset and model cards rendered from the Jinja templates in `datasets_cards/`.

The templates' one source is the repository's `datasets_cards/` folder; an installed wheel carries the same files as
`toolbrain_hub/card_templates/` (see setup.py), so `TEMPLATES_DIR` is whichever of the two this copy of the package
has.

`render_card(template_name, metadata=..., **fields)` is the one renderer: `metadata` becomes the card's YAML header
(dumped by huggingface_hub's `CardData`, so it is valid YAML whatever the values are) and `fields` fill the body.
Missing fields raise (StrictUndefined) instead of leaving blanks. Text that comes from users (tool descriptions)
goes through the `md_cell` / `md_text` filters, so it cannot break tables or inject HTML.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from ..errors import ToolBrainError


def _templates_dir() -> Path:
    """The wheel's `toolbrain_hub/card_templates/`, else (a checkout, or an editable install) `datasets_cards/`."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "card_templates"
    return installed if installed.is_dir() else package.parent / "datasets_cards"


TEMPLATES_DIR = _templates_dir()
# Hub size categories for the `size_categories` metadata field.
_SIZE_BOUNDS = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]


class CardError(ToolBrainError, ValueError):
    """A card template is missing, or a field it needs was not given."""


def template_path(template_name: str) -> Path:
    """The file of a template: "dataset_card" -> datasets_cards/dataset_card.md.

    Args:
        template_name: A template name in `datasets_cards/` (with or without ".md"), or a path to a template file.
    """
    candidate = Path(template_name)
    if candidate.suffix == ".md" and candidate.is_file():
        return candidate
    path = TEMPLATES_DIR / (template_name if template_name.endswith(".md") else f"{template_name}.md")
    if not path.is_file():
        available = sorted(p.stem for p in TEMPLATES_DIR.glob("*.md"))
        raise CardError(f"no card template {template_name!r} in {TEMPLATES_DIR} (available: {', '.join(available)})")
    return path


def md_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: one line, pipes and HTML escaped."""
    text = " ".join(str(value).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def md_text(value: Any) -> str:
    """User text safe in a Markdown paragraph: HTML escaped, no heading/fence/front-matter markers at line starts."""
    text = str(value).replace("<", "&lt;").replace(">", "&gt;")
    lines = []
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("#", "```", "---", "~~~")):
            line = "\\" + stripped
        lines.append(line)
    return "\n".join(lines)


def py_literal(value: Any) -> str:
    """A Python literal for a usage snippet: `repr`, so "that's" stays readable (JSON would write that\\u0027s)."""
    return repr(value)


_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)")
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
                ".webp": "image/webp"}


def inline_images(markdown: str, folder: str | Path) -> str:
    """The card with its relative images (`![alt](reward_curve.png)`) embedded as data: URIs, for a preview shown
    away from its folder (a page, before publishing). Links to files outside `folder`, and URLs, are left as they are.

    Args:
        markdown: The card text.
        folder: The folder the card's relative links point into.
    """
    root = Path(folder).resolve()

    def embed(match: re.Match) -> str:
        src = match["src"]
        path = (root / src).resolve()
        kind = _IMAGE_TYPES.get(path.suffix.lower())
        if "://" in src or kind is None or not path.is_relative_to(root) or not path.is_file():
            return match[0]
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"![{match['alt']}](data:{kind};base64,{data})"

    return _IMAGE.sub(embed, markdown)


def card_for_display(card: str) -> str:
    """A card for a Markdown viewer, which would mangle its YAML front matter: the metadata as a YAML code block,
    then the body.

    Args:
        card: The card text (YAML header + Markdown).
    """
    from huggingface_hub import ModelCard

    parsed = ModelCard(card)
    return f"Metadata:\n\n```yaml\n{parsed.data.to_yaml()}\n```\n\n{parsed.text}"


def size_category(n: int) -> str:
    """The Hub's size category for n examples ("n<1K", "1K<n<10K", ...)."""
    for bound, label in _SIZE_BOUNDS:
        if n < bound:
            return label
    return "n>1B"


def render_card(template_name: str, *, metadata: dict[str, Any], **fields: Any) -> str:
    """Render a card template: YAML metadata header + Markdown body.

    Args:
        template_name: Template in `datasets_cards/` ("dataset_card", ...) or a path to one.
        metadata: The YAML header (license, tags, configs, ...). Must not hold secrets: it is published.
        **fields: Values for the template body.

    Returns:
        The card text (front matter + body).
    """
    import jinja2
    from huggingface_hub import CardData

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters.update({"md_cell": md_cell, "md_text": md_text, "tojson_compact": _json_compact, "py": py_literal,
                        "pct": lambda x: f"{100 * float(x):.0f}%"})
    try:
        template = env.from_string(template_path(template_name).read_text())
        body = template.render(card_data=CardData(**metadata).to_yaml(), **fields)
    except jinja2.UndefinedError as e:
        raise CardError(f"card template {template_name!r}: {e.message}") from None
    except jinja2.TemplateSyntaxError as e:
        raise CardError(f"card template {template_name!r}, line {e.lineno}: {e.message}") from None
    return body


def _json_compact(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 3] + "..."
