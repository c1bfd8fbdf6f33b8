# SPDX-License-Identifier: Apache-2.0
"""Errors that half reports to users as one line (the CLI prints them and exits non-zero)."""

from __future__ import annotations

from pathlib import Path


class HalfError(Exception):
    """A user-facing failure: the message is one line naming the file or field and the fault."""

    exit_code = 2


class DataError(HalfError):
    """A data file or data folder is missing or malformed."""

    def __init__(self, path: str | Path, fault: str) -> None:
        self.path = str(path)
        self.fault = fault
        super().__init__(f"{self.path}: {fault}")


class ConfigError(HalfError):
    """A parameter or option has a bad value."""

    def __init__(self, field: str, fault: str) -> None:
        self.field = field
        self.fault = fault
        super().__init__(f"{field}: {fault}")


class OutputError(HalfError):
    """An output path cannot be written, or writing it would destroy something half did not
    make (a user's files)."""

    def __init__(self, path: str | Path, fault: str) -> None:
        self.path = str(path)
        self.fault = fault
        super().__init__(f"{self.path}: {fault}")

