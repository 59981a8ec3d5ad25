"""``$expand`` on the 4D adapter's real path: the parameter sent and the inlined entities decoded.

The bodies are the real captures ``collection__ios_v18_table_link_expanded.json`` (an N->1
relation inlined whole) and ``collection__ios_v18_table_linked_nested.json`` (a 1->N
relation nested as a page), served on a loopback socket.
"""

from __future__ import annotations

import datetime as dt

import orjson

from legacy_adapters.fourd import FourDBackend
from legacy_core.model import Query

from .captures_support import BY_FILE, CaptureServer, body_route, catalog_route, load, raw

LINKED_CATALOG = orjson.dumps(
    {
        "dataClasses": [
            {
                "name": "Table_Linked",
                "attributes": [
                    {"name": "ID", "kind": "storage", "type": "long"},
                    {"name": "Field_2", "kind": "storage", "type": "string"},
                    {"name": "Field_3", "kind": "storage", "type": "string"},
                    {
                        "name": "Link_1_return",
                        "kind": "relatedEntities",
                        "type": "Table_LinkSelection",
                        "inverseName": "Link_1",
                    },
                ],
            }
        ]
    }
)
LINK_CATALOG = orjson.dumps(
    {
        "dataClasses": [
            {
                "name": "Table_Link",
                "attributes": [
                    {"name": n, **spec}
                    for n, spec in BY_FILE["collection__ios_v18_table_link_expanded.json"][
                        "schema_inline"
                    ].items()
                ],
            }
        ]
    }
)


def _serve(served: CaptureServer, capture: str) -> None:
    served.routes.append(catalog_route("Table_Linked", LINKED_CATALOG))
    served.routes.append(catalog_route("Table_Link", LINK_CATALOG))
    served.routes.append(body_route(200, raw(capture)))


class TestExpand:
    def test_expand_is_sent(self, served: CaptureServer, backend: FourDBackend) -> None:
        """A query with expand sends ``$expand`` with the relation names, comma-separated."""
        _serve(served, "collection__ios_v18_table_link_expanded.json")
        backend.read_page(Query("live", "Table_Link", typed=True, expand=("Link_1",)))
        assert ["Link_1"] == [s.params.get("$expand") for s in served.data_requests()]

    def test_inlined_entity_is_decoded(self, served: CaptureServer, backend: FourDBackend) -> None:
        """An expanded N->1 entity comes back as a dict decoded with its own table's schema."""
        _serve(served, "collection__ios_v18_table_link_expanded.json")
        page = backend.read_page(Query("live", "Table_Link", typed=True, expand=("Link_1",)))
        sent = load("collection__ios_v18_table_link_expanded.json")["__ENTITIES"][0]["Link_1"]
        linked = page.records[0]["Link_1"]
        assert (sent["__KEY"], sent["ID"], sent["Field_2"]) == (
            linked["__KEY"],
            linked["ID"],
            linked["Field_2"],
        )
        assert isinstance(linked["__TIMESTAMP"], dt.datetime)
        # Its own 1->N relation was not expanded: it stays as 4D sent it.
        assert sent["Link_1_return"] == linked["Link_1_return"]

    def test_without_expand_a_relation_is_its_key(
        self, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """The same body read without expand decodes the relation to its key, as before."""
        _serve(served, "collection__ios_v18_table_link_expanded.json")
        page = backend.read_page(Query("live", "Table_Link", typed=True))
        assert ["1", "1"] == [r["Link_1"] for r in page.records]

    def test_nested_page_is_a_list(self, served: CaptureServer, backend: FourDBackend) -> None:
        """An expanded 1->N relation (a nested ``__ENTITIES`` page) becomes a list of rows."""
        _serve(served, "collection__ios_v18_table_linked_nested.json")
        query = Query("live", "Table_Linked", typed=True, expand=("Link_1_return",))
        children = backend.read_page(query).records[0]["Link_1_return"]
        sent = load("collection__ios_v18_table_linked_nested.json")["__ENTITIES"][0]
        assert [e["__KEY"] for e in sent["Link_1_return"]["__ENTITIES"]] == [
            c["__KEY"] for c in children
        ]
        # The children's own N->1 link back is deferred: decoded to its key.
        assert ["1", "1"] == [c["Link_1"] for c in children]
        assert all(isinstance(c["__STAMP"], int) for c in children)

    def test_expand_on_an_entity_set_page(
        self, served: CaptureServer, backend: FourDBackend
    ) -> None:
        """A page of an entity set asks for the same ``$expand`` as the collection did."""
        _serve(served, "collection__ios_v18_table_link_expanded.json")
        query = Query("live", "Table_Link", typed=True, expand=("Link_1",), entity_set="ABC")
        page = backend.read_page(query)
        assert ["Link_1"] == [s.params.get("$expand") for s in served.data_requests()]
        assert "5789" == page.records[0]["Link_1"]["Field_2"]
