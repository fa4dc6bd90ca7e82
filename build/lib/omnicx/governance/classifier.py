"""Which class a key of customer data has: looked up by its path in the classification.

Apart from the role views (``access``) because it depends only on the classification,
not on any role: one ``Classifier`` serves every role's view of the same document.
"""

from __future__ import annotations

from omnicx.governance.policies import Classification, FieldClass, FieldRule, normalize_key

Path = tuple[str, ...]
PUBLIC_FIELD = FieldRule(field_class=FieldClass.PUBLIC)


def stricter(inherited: FieldRule, own: FieldRule) -> FieldRule:
    """A child of a personal field is personal too, whatever its own name says."""
    return own if own.field_class.rank >= inherited.field_class.rank else inherited


class Classifier:
    """Looks up the class of a key by its path, most specific entry first:
    ``traits.address.city``, ``address.city``, ``traits.city``, ``city``."""

    def __init__(self, classification: Classification):
        self.fields = classification.fields
        self.unknown_key = FieldRule(field_class=classification.unknown_keys)
        self.unknown_identifier = FieldRule(field_class=classification.unknown_identifier_types)
        self._keys: dict[tuple[str, Path], FieldRule] = {}

    def key(self, namespace: str, path: Path) -> FieldRule:
        cached = self._keys.get((namespace, path))
        if cached is not None:
            return cached
        dotted = ".".join(path)
        rule = self.unknown_key
        for candidate in (f"{namespace}.{dotted}", dotted, f"{namespace}.{path[-1]}", path[-1]):
            found = self.fields.get(candidate)
            if found is not None:
                rule = found
                break
        if len(self._keys) > 20_000:
            self._keys.clear()
        self._keys[(namespace, path)] = rule
        return rule

    def identifier(self, kind: str) -> FieldRule:
        kind = normalize_key(kind)
        found = self.fields.get(f"identifiers.{kind}") or self.fields.get(kind)
        return found or self.unknown_identifier
