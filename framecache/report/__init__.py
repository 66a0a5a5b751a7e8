"""The report stage's library: the comparison of trained heads, written as tables (CSV, Markdown), plots and
one self-contained HTML page. :func:`framecache.report.build.build_report` is what ``stages.report`` calls.

Reading order, inputs to page:

* ``results``: each head's train outputs (metrics.json, predictions.csv, curve.csv, selection.csv) and the
  manifest's groups; ``testset``: the test videos every head predicted, aligned across heads;
* ``pairs``, ``selection``, ``comparison``: the numbers, computed once (exact and group-aware intervals and
  Holm-corrected tests from :mod:`framecache.evaluation`, paired over the same groups of test videos for every
  head; every named head chosen on validation);
* ``curves``: what a head's curve.csv is (a torch head's epochs, or a pooled/SVM head's validation grid);
* ``inputs``: facts about the dataset and the extraction, each file allowed to be missing;
* ``formatting``, ``tables``, ``narrative``, ``summary``: how numbers, tables and sentences read;
* ``confusion``: confusion at any class count (count matrices, the most frequent confusions, the classes a
  sub-matrix shows, the worst and best classes); the PNGs are drawn by the train stage and copied;
  ``markdown``: comparison.md;
* ``sections``: the ordered list of sections, each giving its HTML, Markdown and files;
* ``page`` + ``templates/``: the Jinja2 page (autoescaped); ``build``: the entry point.
"""
