"""`python -m bulletin`: the command line, as the `bulletin` script starts it."""

from .cli import main

main()
