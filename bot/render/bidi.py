"""Right-to-left safety: wrap numbers, URLs, hashtags and handles in directional isolates."""

from __future__ import annotations

import re

FSI = "\u2068"  # first strong isolate
PDI = "\u2069"  # pop directional isolate

# Order matters: URLs first so their digits are not isolated separately.
_LTR_RUNS = re.compile(
    r"https?://[^\s\u2066-\u2069]+"  # URLs
    r"|[#@][\w.]+"  # hashtags and handles
    r"|[+\-]?\d[\d.,:/%\-]*\d%?|\d%?",  # numbers, dates, percentages, ranges
)


def isolate(value: str) -> str:
    """Wrap one left-to-right value in an isolate."""
    return f"{FSI}{value}{PDI}" if value else value


def isolate_runs(text: str) -> str:
    """Wrap every number, URL, hashtag and handle in ``text`` in its own isolate."""
    return _LTR_RUNS.sub(lambda m: isolate(m.group(0)), text)


def strip_isolates(text: str) -> str:
    """Remove isolates again (for comparisons and search)."""
    return text.replace(FSI, "").replace(PDI, "")
