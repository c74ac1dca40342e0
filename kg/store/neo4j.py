"""Deprecated: moved to :mod:`kg.neo4j.store` (see :mod:`kg.deprecated`)."""

from kg.deprecated import moved

moved("kg.store.neo4j", "kg.neo4j.store", globals())
