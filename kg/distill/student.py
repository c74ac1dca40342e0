"""Deprecated: moved to :mod:`retrieval.student_encoder` (see :mod:`kg.deprecated`)."""

from kg.deprecated import moved

moved("kg.distill.student", "retrieval.student_encoder", globals())
