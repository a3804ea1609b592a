"""Visible text of an HTML document, shared by the vectorised rules and the reference loop.

Visible text = the text data chunks that the stdlib ``html.parser.HTMLParser`` reports
outside ``<script>`` and ``<style>`` elements, each ``.strip()``ped, empty ones dropped,
joined with a single space. Character references are decoded (``&amp;`` counts as one
character "&"); tags, attributes, comments, doctypes and processing instructions are not
text. An unclosed ``<script>``/``<style>`` hides everything after it.
"""

from __future__ import annotations

from html.parser import HTMLParser

_HIDDEN = frozenset({"script", "style"})


class _VisibleTextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _HIDDEN:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            data = data.strip()
            if data:
                self.chunks.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleTextParser()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - malformed markup: keep the text seen so far (deterministic)
        pass
    return " ".join(parser.chunks)
