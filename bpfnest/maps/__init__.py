"""Live kernel maps, one class per family of map types.

- :class:`Map` (``_map.py``): construction (``create``, ``from_id``,
  ``from_pinned``, ``from_fd``) and the class each map type gets; element
  operations (``_elements.py``); iteration and batches (``_batch.py``).
- :class:`PerCPUMap` (``_map.py``): one value per possible CPU.
- :class:`KeylessMap` (``_keyless.py``): QUEUE, STACK, BLOOM_FILTER.
- :class:`OuterMap` (``_outer.py``): ARRAY_OF_MAPS, HASH_OF_MAPS and their
  inner-map cache.
- :class:`TypedMap` (``_typed.py``): a map's keys and values as Python
  values from its BTF (``Map.typed()``); ``Map.key_type``/``value_type`` and
  ``Map.mmap()`` live there too.
- :class:`StructOpsMap` (``_struct_ops.py``): STRUCT_OPS, registered with
  :meth:`Map.attach_struct_ops`.

Importing this package registers every class, so :meth:`Map.create` and the
``from_*`` openers always give a map of the class its type has.
"""

from __future__ import annotations

from ._elements import check_fd, possible_cpus
from ._keyless import KeylessMap
from ._map import Map, PerCPUMap, map_ids
from ._outer import OuterMap
from ._struct_ops import StructOpsMap
from ._typed import TypedMap

__all__ = [
    "KeylessMap",
    "Map",
    "OuterMap",
    "PerCPUMap",
    "TypedMap",
    "StructOpsMap",
    "check_fd",
    "map_ids",
    "possible_cpus",
]
