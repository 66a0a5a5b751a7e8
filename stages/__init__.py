"""framecache: stage entry points (demo, prepare, extract, train, report, predict) and the library modules
they call. See docs/ARCHITECTURE.md for the layout and the contracts between stages."""
