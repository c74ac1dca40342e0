"""Deprecated: moved to :mod:`kg.neo4j.cypher_copy` (see :mod:`kg.deprecated`)."""

from kg.deprecated import moved

moved("kg.copy", "kg.neo4j.cypher_copy", globals())
