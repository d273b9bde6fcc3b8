"""HeapFreezer: frozen objects leave the collector's walks, and no garbage is kept for good."""

import gc
import weakref

import pytest

from party_engine.gateway.gc_policy import HeapFreezer


class Node:
    """An object in a reference cycle: only the garbage collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def freezer():
    freezer = HeapFreezer()
    yield freezer
    gc.unfreeze()  # leave the test process as it was


def test_freezing_takes_the_survivors_out_of_the_collectors_walks(freezer):
    kept = [Node() for _ in range(1000)]
    freezer.freeze()
    assert gc.get_freeze_count() >= len(kept)
    kept_ids = {id(node) for node in kept}
    assert not any(id(tracked) in kept_ids for tracked in gc.get_objects())


def test_garbage_that_is_young_when_freezing_is_collected_not_frozen(freezer):
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    freezer.freeze()
    assert gone() is None


def test_a_cycle_that_became_garbage_while_frozen_is_freed_by_the_full_collection(freezer):
    node = Node()
    gone = weakref.ref(node)
    freezer.freeze()
    del node
    gc.collect()  # an ordinary full collection does not walk frozen objects
    assert gone() is not None
    freezer.collect_in_full()
    assert gone() is None
