"""The web explorer of ``kg serve``: a read-only JSON API and the pages over it.

- :mod:`kg.web.app`: :func:`~kg.web.app.create_app`, the ASGI app (FastAPI), its security headers and token
- :mod:`kg.web.api`: the JSON routes (``/api/...``; OpenAPI at ``/api/openapi.json``)
- :mod:`kg.web.views`, :mod:`kg.web.topicmap`: the facade's results as the API's models (:mod:`kg.web.models`)
- :mod:`kg.web.style`: node colours from the Neo4j Browser style file
- ``static/``: ``index.html``, ``app.js``, ``app.css`` and the vendored cytoscape.js (``static/vendor``)

This layer sits between :mod:`kg.cli` and :mod:`kg.graph`; it imports FastAPI only when an app is made.
"""

from __future__ import annotations
