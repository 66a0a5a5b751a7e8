"""Datasets: the demo clips, finding a dataset's videos, groups and leak-free splits, the prepared manifest.

``demo`` / ``demo_clips`` (the demo stage), ``discovery`` → ``manifest`` → ``splits``, tied together by
``prepare.prepare_dataset`` (the prepare stage).
"""
