"""The head types' declarations: each module holds a head family's settings model and its
:class:`framecache.heads.record.HeadType` record(s). They import pydantic only, never torch or scikit-learn,
so validating params.yaml stays cheap; the implementations are named by ``"module:Class"``.
"""
