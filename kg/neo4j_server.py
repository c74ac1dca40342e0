"""Deprecated: moved to :mod:`kg.neo4j.server` (see :mod:`kg.deprecated`)."""

from kg.deprecated import moved

moved("kg.neo4j_server", "kg.neo4j.server", globals())

if __name__ == "__main__":  # the old command line: now ``kg neo4j build`` and ``kg neo4j start``
    import sys

    sys.exit("python -m kg.neo4j_server is gone: use `kg neo4j build` (was build/available) and "
             "`kg neo4j start` (was run)")
