"""A Shopify-like calculated query cost (shopify.dev "rate limits", simplified).

Scalars and enums cost 0, an object costs 1, a connection costs 2 plus ``first`` times the
cost of one node (requested) or the sum over the nodes returned (actual); a list field with
``first`` is costed like a connection; a mutation costs 10. Good enough to make page sizes
matter and to exercise throttling; not Shopify's exact numbers.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    value_from_ast_untyped,
)

MUTATION_COST = 10


def _arg(field: FieldNode, name: str, variables: dict[str, Any]) -> Any:
    for arg in field.arguments or ():
        if arg.name.value == name:
            return value_from_ast_untyped(arg.value, variables)
    return None


class CostCalculator:
    def __init__(self, schema: GraphQLSchema, document: DocumentNode,
                 variables: dict[str, Any]) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {d.name.value: d for d in document.definitions
                          if isinstance(d, FragmentDefinitionNode)}
        self.operation = next(d for d in document.definitions
                              if isinstance(d, OperationDefinitionNode))

    def requested(self) -> int:
        if self.operation.operation != OperationType.QUERY:
            return MUTATION_COST
        return self._selection(self.operation.selection_set, self.schema.query_type, None, False)

    def actual(self, data: dict[str, Any] | None) -> int:
        if self.operation.operation != OperationType.QUERY:
            return MUTATION_COST
        return self._selection(self.operation.selection_set, self.schema.query_type, data, True)

    def _selection(self, selection: SelectionSetNode | None, parent: Any, data: Any,
                   actual: bool) -> int:
        if selection is None:
            return 0
        total = 0
        for node in selection.selections:
            if isinstance(node, InlineFragmentNode):
                typ = (self.schema.get_type(node.type_condition.name.value)
                       if node.type_condition else parent)
                total += self._selection(node.selection_set, typ, data, actual)
            elif isinstance(node, FragmentSpreadNode):
                frag = self.fragments[node.name.value]
                typ = self.schema.get_type(frag.type_condition.name.value)
                total += self._selection(frag.selection_set, typ, data, actual)
            elif isinstance(node, FieldNode):
                total += self._field(node, parent, data, actual)
        return total

    def _field(self, node: FieldNode, parent: Any, data: Any, actual: bool) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", {})
        if name.startswith("__") or name not in fields:
            return 0
        field_type = fields[name].type
        named = get_named_type(field_type)
        if is_leaf_type(named):
            return 0
        key = node.alias.value if node.alias else name
        value = data.get(key) if isinstance(data, dict) else None
        if actual and value is None:
            return 0
        first = _arg(node, "first", self.variables) or _arg(node, "last", self.variables)
        if named.name.endswith("Connection"):
            node_type = get_named_type(named.fields["nodes"].type)
            per_node = self._connection_nodes(node, node_type)
            if actual:
                items = list(value.get("nodes") or []) or [
                    e.get("node") for e in value.get("edges") or []]
                return 2 + sum(1 + self._nodes_cost(per_node, node_type, i, True) for i in items)
            return 2 + int(first or 0) * (1 + self._nodes_cost(per_node, node_type, None, False))
        if is_list_type(get_nullable_type(field_type)):
            if actual:
                return sum(1 + self._selection(node.selection_set, named, i, True)
                           for i in value or [])
            return int(first or 1) * (1 + self._selection(node.selection_set, named, None, False))
        return 1 + self._selection(node.selection_set, named, value, actual)

    @staticmethod
    def _connection_nodes(node: FieldNode, node_type: Any) -> list[SelectionSetNode]:
        """The selection sets applied to each node: ``nodes {..}`` and ``edges { node {..} }``."""
        found: list[SelectionSetNode] = []
        for sel in node.selection_set.selections if node.selection_set else ():
            if not isinstance(sel, FieldNode):
                continue
            if sel.name.value == "nodes" and sel.selection_set:
                found.append(sel.selection_set)
            elif sel.name.value == "edges" and sel.selection_set:
                for inner in sel.selection_set.selections:
                    if isinstance(inner, FieldNode) and inner.name.value == "node" \
                            and inner.selection_set:
                        found.append(inner.selection_set)
        return found

    def _nodes_cost(self, selections: list[SelectionSetNode], node_type: Any, item: Any,
                    actual: bool) -> int:
        return sum(self._selection(s, node_type, item, actual) for s in selections)
