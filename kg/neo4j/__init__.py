"""Everything Neo4j, in one place (importing this package does not import the driver).

- :mod:`kg.neo4j.store`: :class:`~kg.neo4j.store.Neo4jStore`, the graph store behind ``neo4j://`` and
  ``bolt://`` URLs (the same :class:`~kg.store.base.GraphStore` contract as the embedded store)
- :mod:`kg.neo4j.schema`: the layout in Neo4j (labels, provenance nodes, constraints, indexes)
- :mod:`kg.neo4j.search`: BM25 (full-text index) and vector legs run inside Neo4j: the store's search
  backend (:class:`~kg.neo4j.search.Neo4jSearch`), fused by :func:`retrieval.hybrid.search`
- :mod:`kg.neo4j.embeddings`: the embeddings behind the vector index, computed with the encoder the
  store is given from above
- :mod:`kg.neo4j.cypher_guard`: read-only Cypher for agents and users
- :mod:`kg.neo4j.cypher_copy`: copy any store into a running server through Cypher (``kg export --to``)
- :mod:`kg.neo4j.admin_import`: bulk-load a store into a new database with ``neo4j-admin``
  (``kg neo4j import``)
- :mod:`kg.neo4j.server`: build and run a local Neo4j 5.26 server without Docker (``kg neo4j start``),
  from the Java launcher in ``kg/neo4j/java/`` (package data); ``kgloom.grass`` styles Neo4j Browser
"""
