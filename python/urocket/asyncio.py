"""`import urocket.asyncio` gives urocket.aio (asyncio servers on the engine).

The module is named aio inside the package so that it never shadows the
standard library's asyncio; this alias makes the two names one module."""
import sys

import urocket.aio as _aio

sys.modules[__name__] = _aio
