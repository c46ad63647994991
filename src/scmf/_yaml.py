"""The one way scmf reads YAML written by people: safe, no duplicated keys, no aliases."""

from __future__ import annotations


def strict_loader():
    """A ``yaml.SafeLoader`` that refuses a mapping with the same key twice (YAML keeps the last
    silently) and any alias (``*name``): a few hundred bytes of nested aliases expand to
    gigabytes (a "billion laughs"), and a config never needs them."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.events.AliasEvent):
                event = self.peek_event()
                msg = (
                    f"YAML aliases (*{event.anchor}) are not accepted here (line {event.start_mark.line + 1}): "
                    "write the values out"
                )
                raise yaml.composer.ComposerError(None, None, msg, event.start_mark)
            return super().compose_node(parent, index)

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                msg = f"the key {key!r} appears twice in one mapping (line {key_node.start_mark.line + 1}); YAML would keep the last silently"
                raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep=deep)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


def read_yaml(text: str):
    """``text`` parsed with :func:`strict_loader`."""
    import yaml

    return yaml.load(text, Loader=strict_loader())  # a SafeLoader subclass
