"""The report stage's library: the comparison of trained heads, written as tables (CSV, Markdown), plots and
one self-contained HTML page. :func:`framecache.report.build.build_report` is what ``stages.report`` calls.

Reading order, inputs to page:

* ``results``: each head's train outputs (metrics.json, predictions.csv, curve.csv) and test alignment;
* ``pairs``, ``baseline``, ``comparison``: the numbers, computed once (CIs from
  :mod:`framecache.evaluation.statistics`, paired over the same test videos for every head);
* ``inputs``: facts about the dataset and the extraction, each file allowed to be missing;
* ``formatting``, ``tables``, ``narrative``, ``summary``: how numbers, tables and sentences read;
* ``figures``: confusion matrices and training curves (PNG); ``markdown``: comparison.md;
* ``sections``: the ordered list of sections, each giving its HTML, Markdown and files;
* ``page`` + ``templates/``: the Jinja2 page (autoescaped); ``build``: the entry point.
"""
