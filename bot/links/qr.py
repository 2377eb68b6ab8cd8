"""Write a QR code per sign-up link, as PNG (for print) and SVG (for design tools)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import segno

# Pixels per module and the quiet zone in modules: ~330 px for a short link, 4 modules of
# quiet zone as the standard asks, so a printed code scans from a poster.
SCALE = 10
BORDER = 4


@dataclass(frozen=True)
class QrFiles:
    """The files written for one link."""

    png: Path
    svg: Path


def write_qr_codes(folder: Path, links: dict[str, str]) -> dict[str, QrFiles]:
    """Write ``<code>.png`` and ``<code>.svg`` for each code -> URL into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, QrFiles] = {}
    for code, url in links.items():
        # Error correction M or better (segno raises it when it fits the same size).
        qr = segno.make(url, error="m", micro=False)
        files = QrFiles(folder / f"{code}.png", folder / f"{code}.svg")
        qr.save(str(files.png), scale=SCALE, border=BORDER)
        qr.save(str(files.svg), scale=SCALE, border=BORDER, title=url)
        written[code] = files
    return written
