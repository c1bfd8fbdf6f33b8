# SPDX-License-Identifier: Apache-2.0
"""`python -m half.search` is `half search` (until the command is registered on `half`)."""

from half.search.cli import main

main()
