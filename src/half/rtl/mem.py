# SPDX-License-Identifier: Apache-2.0
"""ROM images ($readmemh, one hex word per line) of a design's stages.

The words and their layout come from the design (`Stage.roms`, `half.hw.rom`); this module only
writes them.
"""

from __future__ import annotations

from pathlib import Path

from half.hw.design import Design


def write_mem(path: Path, words: list[int], width: int) -> None:
    """`words` of `width` bits as a $readmemh file."""
    digits = max(1, -(-width // 4))
    path.write_text("".join(f"{w:0{digits}x}\n" for w in words))


def write_roms(design: Design, folder: Path) -> None:
    """Every stage's ROM images into `folder` (the project's mem/, which the stages'
    parameters name)."""
    folder.mkdir(parents=True, exist_ok=True)
    for st in design.stages:
        for name, words, width in st.roms():
            write_mem(folder / name, words, width)
