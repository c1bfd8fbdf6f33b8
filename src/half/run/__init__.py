# SPDX-License-Identifier: Apache-2.0
"""`half run`: search → re-evaluation → choice (validation only) → test split → golden model →
RTL → Verilator → Yosys/nextpnr → report, into one run folder that a rerun resumes.

    from half.run import RunSettings, run_all
    run = run_all(RunSettings(task="mitdb-aami", goal="low-energy", device="up5k",
                              budget="30m"), "out/run")

Modules: `pipeline` (settings, stage bookkeeping, resume), `stages` (the stage functions and
the choice rule), `summary` (run.json and its figures), `cli` (the `half run` command).
"""

from half.run.pipeline import FLOOR_SLACK, RunSettings, run_all
from half.run.stages import STAGES, choose

__all__ = ["FLOOR_SLACK", "STAGES", "RunSettings", "choose", "run_all"]
