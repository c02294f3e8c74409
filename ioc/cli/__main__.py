"""`python -m ioc.cli ...` is the same as the `ioc` command."""

from ioc.cli import main

main()
