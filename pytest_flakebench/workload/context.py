"""Per-thread state for drawing parameters: the seeded generator, key stripes, Python ops."""

from __future__ import annotations

import random
from collections.abc import Callable


class ThreadContext:
    """Per-thread state of the parameter makers: the seeded RNG and the insert-key stripe."""

    __slots__ = ("_seq_n", "global_index", "inserted", "local_base", "local_count", "params",
                 "pending_key", "rng", "stride")

    def __init__(self, *, seed: int, global_index: int, stride: int, local_base: int = 0,
                 local_count: int = 0) -> None:
        self.rng = random.Random(f"{seed}:{global_index}")
        self.global_index = global_index
        self.stride = stride
        # This process's threads: global indexes [local_base, local_base + local_count). When
        # given, new integer keys fill this process's stripes densely, in insert order, from a
        # counter its threads share (so a run leaves no holes); 0: each thread its own stripe.
        self.local_base = local_base
        self.local_count = local_count
        self.inserted = 0  # new keys handed out so far (the stripe ordinal)
        self._seq_n = 0
        self.params: OpParams | None = None  # Python operations' parameter source
        self.pending_key: object = None  # the key of the insert in flight (drawn once done)

    def next_insert_ordinal(self) -> int:
        """0, 1, 2… for this thread; combined with the stripe into a collision-free key."""
        n = self.inserted
        self.inserted = n + 1
        return n

    def next_sequential(self) -> int:
        """0, 1, 2… for this thread's ``sequential`` key walk."""
        n = self._seq_n
        self._seq_n = n + 1
        return n




class OpParams:
    """What a Python operation gets besides the connection: seeded draws, one per thread."""

    __slots__ = ("_existing", "_new", "ctx", "rng")

    def __init__(self, ctx: ThreadContext, existing: Callable[[ThreadContext], int] | None,
                 new: Callable[[ThreadContext], object] | None) -> None:
        self.ctx = ctx
        self.rng = ctx.rng  # a random.Random seeded from the template seed and the thread
        self._existing = existing
        self._new = new

    def key(self) -> int:
        """An existing key, drawn with the template's key distribution."""
        if self._existing is None:
            raise TypeError("this table has no integer key to draw from")
        return self._existing(self.ctx)

    def new_key(self) -> object:
        """A new key that no other thread, worker or host will also insert."""
        if self._new is None:
            raise TypeError("this table's key column cannot take generated keys")
        return self._new(self.ctx)
