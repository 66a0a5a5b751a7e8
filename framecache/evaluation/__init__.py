"""The statistics behind every number the report gives: ``metrics`` (top-k, mean class accuracy, macro-F1,
log-loss), ``design`` (the test set's groups and the resamples every head shares), ``intervals`` (exact and
group-aware intervals, group-level tests, Holm) and ``statistics`` (bootstrap intervals and paired tests)."""
