"""The C library's heap padding for the ``siayn`` process and the worker processes it starts.

Every optimization step allocates and frees the same few hundred MB of feature maps and
gradients. With glibc's defaults the heap is trimmed and grown again around them at every
step, and each regrowth faults its pages in anew; growing the heap in steps of
:data:`HEAP_TOP_PAD` trades a higher peak RSS for faster steps (docs/performance.md). The
setting is process-wide, so only the command line makes it, when it starts: a program that
calls :func:`siayn_core.stylize` keeps its own allocator settings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys

#: glibc's ``mallopt`` parameter for the extra memory requested whenever the heap grows.
_M_TOP_PAD = -2
#: How much: about what one step's temporaries at 512 px take.
HEAP_TOP_PAD = 1 << 30
#: glibc's environment variable for the same setting, read when a process starts.
TOP_PAD_VARIABLE = "MALLOC_TOP_PAD_"


@functools.cache
def pad_heap_growth() -> bool:
    """On glibc, grow this process's heap in steps of :data:`HEAP_TOP_PAD` (``mallopt(M_TOP_PAD)``).

    Returns whether it was applied (never off Linux, nor where the C library has no ``mallopt``).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_TOP_PAD, HEAP_TOP_PAD))


def pad_heap_for_runs() -> bool:
    """Pad this process's heap and, through glibc's ``MALLOC_TOP_PAD_``, that of the processes
    it starts (a batch's or a clip's workers), unless the user set that variable. Returns
    whether this process's heap was padded."""
    padded = pad_heap_growth()
    if padded:
        os.environ.setdefault(TOP_PAD_VARIABLE, str(HEAP_TOP_PAD))
    return padded
