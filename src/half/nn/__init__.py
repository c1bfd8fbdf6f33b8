# SPDX-License-Identifier: Apache-2.0
"""Model layer: architecture space, Brevitas models, training, metrics, export."""

import warnings as _warnings

# Brevitas warns on import of its graph tools that an optional CUDA kernel package is missing;
# half never uses that transform.
_warnings.filterwarnings("ignore", message="fast_hadamard_transform package not found")
