"""The playground: a ToolJet-style host for the plugin, as a page in a browser, served on loopback.

    from tooljet_portkey.playground import Playground

    with Playground() as playground:
        print(playground.url)  # http://127.0.0.1:<port>/<token>/

The page draws the connection form from manifest.json and the query form from operations.json, sends
what the user typed to ``QueryService`` as text, and shows the QueryResult, the QueryError or the streamed
chunks as a host would. See docs/playground.md. Not imported by ``import tooljet_portkey``.
"""

from __future__ import annotations

from ._server import Playground

__all__ = ["Playground"]
