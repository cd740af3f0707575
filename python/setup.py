"""Build glue pyproject.toml cannot express: the version comes from the
generated declarations (python/urocket/_cdef.py, made from urocket.h), and a
wheel that carries liburocket.so is platform-specific (py3-none-<platform>),
not pure Python."""
import os
import re

from setuptools import Distribution, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(HERE, "urocket", "_cdef.py"), encoding="utf-8") as f:
        text = f.read()
    parts = []
    for part in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(r"'URK_VERSION_%s': (\d+)," % part, text)
        if m is None:
            raise RuntimeError("urocket/_cdef.py has no URK_VERSION_%s: regenerate it "
                               "with python/tools/gen_cdef.py" % part)
        parts.append(m.group(1))
    return ".".join(parts)


def _has_library():
    pkg = os.path.join(HERE, "urocket")
    return any(n.startswith("liburocket.so") for n in os.listdir(pkg))


cmdclass = {}
try:
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # building an sdist or an editable install without wheel
    _bdist_wheel = None

if _bdist_wheel is not None:
    class bdist_wheel(_bdist_wheel):
        """py3-none-<platform> when the library is inside: any Python 3, one
        platform (the library is native code, reached through cffi's ABI
        mode, so no CPython ABI tag)."""

        def get_tag(self):
            python, abi, plat = super().get_tag()
            if _has_library():
                return "py3", "none", plat
            return python, abi, plat

    cmdclass["bdist_wheel"] = bdist_wheel



class _Distribution(Distribution):
    """With the library inside, the package is installed as platform code
    (platlib, the wheel's root), not as pure Python."""

    def has_ext_modules(self):
        return _has_library()


setup(version=_version(), cmdclass=cmdclass, distclass=_Distribution)
