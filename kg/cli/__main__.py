"""``python -m kg.cli``: the same as the ``kg`` console script."""

from kg.cli import main

main()
