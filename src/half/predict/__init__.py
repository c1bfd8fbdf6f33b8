# SPDX-License-Identifier: Apache-2.0
"""A trained model on a user's own recordings: `half predict` (classes per beat or window) and
`half eval --records` (the task's metrics on any folder of recordings).

    >>> from half.data.recording import read_recording
    >>> from half.predict import Model, predict_recording
    >>> model = Model("preset:tiny", "mitdb-aami")          # golden integer engine
    >>> res = predict_recording(model, read_recording("my_ecg.edf", lead="MLII"))
    >>> res.rows[0]   # {'record', 'time_s', 'sample', 'class', 'score_N', ...}
"""

from __future__ import annotations

from half.predict.apply import Result, predict_recording
from half.predict.evaluate import evaluate_folder
from half.predict.model import ENGINES, Model

__all__ = ["ENGINES", "Model", "Result", "evaluate_folder", "predict_recording"]
