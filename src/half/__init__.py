# SPDX-License-Identifier: Apache-2.0
"""half — Holistic Auto machine Learning for FPGAs.

The package follows the pipeline: `half.data` (tasks, splits, cache) → `half.nn` → `half.hw` →
`half.rtl` → `half.flow` → `half.search` → `half.report`; `half.cli` sits on top.
"""

from __future__ import annotations

__version__ = "0.1.0"

from half.errors import ConfigError, DataError, HalfError  # noqa: E402

__all__ = ["ConfigError", "DataError", "HalfError", "__version__"]
