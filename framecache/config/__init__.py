"""params.yaml: its models, loading and validation, error messages and the README reference.

Import what a stage needs from :mod:`framecache.config.params` (``load_params``, ``ParamsError``). This package
file imports nothing, so the head registry can use :mod:`framecache.config.fields` without a cycle.
"""
