"""The DVC pipeline's commands (demo, prepare, extract, train, report) and the user command ``predict``.

Each parses its argv, loads params and calls one function of the ``framecache`` library."""
