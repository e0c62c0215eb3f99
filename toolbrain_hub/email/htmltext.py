"""HTML mail bodies as readable text, with the standard library's HTML parser (no markup, scripts or styles; one
line per block)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]


class _HTMLText(HTMLParser):
    _BLOCK = frozenset({"p", "div", "br", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr", "title", "h1",
                        "h2", "h3", "h4", "h5", "h6"})
    _HIDDEN = frozenset({"script", "style", "head"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag == "td":
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML part: tags dropped, scripts and styles left out, entities decoded, one line per
    block (paragraph, line break, list item, table row), spaces collapsed.

    Args:
        html: The HTML source.
    """
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
