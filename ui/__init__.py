"""Model Studio's window: Qt widgets only, one module per page.

Pages call the headless core (`studio`) and never run model, torch or heavy database work
on the GUI thread: long work is a job (child process) or a worker thread whose results
come back as plain data through Qt signals.
"""

import sys as _sys

if _sys.version_info < (3, 12):
    # PySide6 6.12 (an abi3 build tested on 3.12+, where None/True/False are immortal) returns
    # them from void methods and Signal.emit without a reference: on 3.11 every such call
    # drops one reference, and after a few thousand calls Python aborts with "none_dealloc".
    # Give the three singletons the immortality 3.12 gives them.
    import ctypes as _ctypes

    for _o in (None, True, False):
        _ctypes.c_ssize_t.from_address(id(_o)).value += 1 << 40
    del _o, _ctypes
