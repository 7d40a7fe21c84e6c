"""The registry of shared credentials: the same object for the same parameters while anyone holds it (never a
second engine, whatever the eviction order), the most recent ones kept for callers that drop theirs, and no
unbounded growth."""

from __future__ import annotations

import gc
import weakref

from cfke_auth._registry import KEEP_RECENT, shared


class Thing:
    """Something worth sharing (weak-referenceable, as every credential and engine is)."""


def test_the_same_object_for_the_same_key() -> None:
    first = shared(("registry-test", "same"), Thing)
    assert shared(("registry-test", "same"), Thing) is first
    assert shared(("registry-test", "other"), Thing) is not first


def test_an_object_in_use_is_never_replaced_however_many_others_come() -> None:
    """Today's LRU eviction could build a second engine for parameters still in use: two exchanges, two
    schedules. Held objects are found through weak references, whatever the recent-use list dropped."""
    held = shared(("registry-test", "held"), Thing)
    for i in range(KEEP_RECENT * 3):
        shared(("registry-test", "churn", i), Thing)
    assert shared(("registry-test", "held"), Thing) is held


def test_recent_objects_survive_a_caller_that_drops_them() -> None:
    ref = weakref.ref(shared(("registry-test", "dropped"), Thing))
    gc.collect()
    assert ref() is not None  # kept among the recent ones: a session built per request reuses its engine
    assert shared(("registry-test", "dropped"), Thing) is ref()


def test_unused_objects_are_collected_beyond_the_recent_ones() -> None:
    refs = [weakref.ref(shared(("registry-test", "leak", i), Thing)) for i in range(KEEP_RECENT * 4)]
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    assert alive <= KEEP_RECENT
