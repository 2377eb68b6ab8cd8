"""The garbage collector, tuned for a long-running worker."""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_objects() -> int:
    """Exempt what start-up built from future collections; return how many objects that is.

    The modules, the library, the settings and the ORM metadata live as long as the process,
    yet a full collection scans all of them (about 160,000 objects, 100 ms or more). A busy
    fan-out triggers one every few seconds, and each stalls the event loop: at 1000 messages
    a second that was 10 % of the rate lost. Frozen, they are never scanned again; objects
    made later are collected as usual. (A cycle among frozen objects that later becomes
    garbage is not freed: start-up objects are not replaced, except the library on a reload,
    which is small.)
    """
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects", frozen)
    return frozen
