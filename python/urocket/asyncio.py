"""`import urocket.asyncio` gives urocket.aio (asyncio servers on the engine).

The module is named aio inside the package so that it never shadows the
standard library's asyncio; this alias makes the two names one module."""
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:   # type checkers see urocket.aio's names here
    from urocket.aio import *  # noqa: F401,F403
else:
    import urocket.aio as _aio

    sys.modules[__name__] = _aio
