"""The process's memory allocator, set up for tensors that the CPU allocates and frees every pass.

PyTorch's CPU tensors come from the C library's malloc. glibc's malloc maps every allocation
above its mmap threshold (128 KB, rising to at most 32 MB) from the kernel as fresh pages, which
fault one 4 KB page at a time on first touch and are unmapped again on free, and it returns the
free top of its heap to the kernel too. A training step or a try-on allocates and frees the same
large activations on every pass, so each pass paid those faults again: a 1024x1024x3x3 weight
gradient (38 MB) took 14 ms to convert from bf16 instead of 1.2 ms. Keeping freed memory in the
heap for the next pass is what PyTorch's CUDA caching allocator does on GPUs; bench/RESULTS.md
(`## Allocator`) has the measured effect on steps and try-ons, and on peak RSS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os

# mallopt(3) parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
NEVER_TRIM = -1  # mallopt(3): "Setting M_TRIM_THRESHOLD to -1 disables trimming completely"

ALLOCATOR_ENV = "TRYON_ALLOCATOR"
"""`retained` (the default when unset) or `system`: glibc's malloc as it comes, for a process whose
memory matters more than its speed (a served worker whose batches vary in size, say)."""
ALLOCATOR_SETTINGS = ("retained", "system")


@functools.cache
def retain_freed_memory() -> bool:
    """Makes glibc's malloc serve every allocation from its heap and keep freed memory there.

    Process-wide and idempotent; called by the CPU trainer and the CPU try-on pipeline. The process's
    resident memory then stays at its high-water mark (plus the heap's fragmentation) instead of
    shrinking between passes. Returns False, changing nothing, where the C library is not glibc or
    where $TRYON_ALLOCATOR is `system`; any other value of it than the two raises ValueError.
    """
    setting = os.environ.get(ALLOCATOR_ENV) or "retained"
    if setting not in ALLOCATOR_SETTINGS:
        raise ValueError(f"${ALLOCATOR_ENV}={setting!r}: use one of {', '.join(ALLOCATOR_SETTINGS)}")
    if setting == "system":
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"):
            return False
    except (AttributeError, ValueError, OSError):  # not a POSIX system with that name
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    # Both calls return 1 on success; mallopt fails only for an unknown parameter.
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
