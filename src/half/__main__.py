# SPDX-License-Identifier: Apache-2.0
"""`python -m half` is the `half` command."""

from half._entry import main

main()
