"""Text customers wrote, made safe to draw: direction isolated, one line where one is meant.

The hub cleans names and messages (docs/protocol.md), but the window draws rows that
predate that (an older database) or come from a hub of another version, so it never
relies on it: whatever a name holds, it cannot pull the text next to it around (a name
ending in U+202E must not turn "05.99" into "99.50") nor start a line of its own (a
newline in a name must not draw a fake "★ Admin:" line).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FSI", "PDI", "isolate", "isolate_lines"]

#: FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE (Unicode bidi algorithm, UAX #9):
#: what lies between them takes its direction from its own first strong character, and
#: any embedding or override it opens ends at the PDI, so neither side moves the other.
FSI, PDI = "\u2068", "\u2069"

# Isolate controls inside the text could close ours early (a stray PDI) and let the rest
# escape, so they go; embeddings and overrides stay, contained by our isolate.
_ISOLATES = dict.fromkeys(map(ord, "\u2066\u2067\u2068\u2069"))
# Every line break Qt or the bidi algorithm knows, and other whitespace, become one space.
_SPACES = re.compile(r"[\s\u0085\u2028\u2029]+")


def _visible(text: str) -> str:
    # Control characters other than whitespace draw as boxes or nothing: dropped.
    return "".join(
        c for c in text.translate(_ISOLATES) if c.isspace() or unicodedata.category(c) != "Cc"
    )


def isolate(text: object) -> str:
    """``text`` on one line, wrapped in first-strong isolates (for names and chat lines)."""
    line = _SPACES.sub(" ", _visible(str(text))).strip()
    return f"{FSI}{line}{PDI}"


def isolate_lines(text: object) -> str:
    """``text`` with its own line breaks kept, each line isolated (support messages)."""
    lines = _visible(str(text)).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(isolate(line) for line in lines)
