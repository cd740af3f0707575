"""Socket addresses (urk_addr_t): numeric IPv4/IPv6 literals, no DNS."""
import socket
from typing import Any, Tuple, Union

from ._ffi import ffi, lib
from .errors import _check

__all__ = ["Address", "parse_address", "format_address"]

_FORMAT_CAP = 64  # "[" + 45-char IPv6 + "]:" + 5-digit port + NUL fits


class Address:
    """An IPv4 or IPv6 address and port, stored as the C urk_addr_t.

    Address("127.0.0.1", 80), Address("::1", 80) and Address("[::1]", 80)
    parse with urk_addr_parse; str() formats with urk_addr_format
    ("127.0.0.1:80", "[::1]:80"). Equal when the sockaddr bytes are equal.
    """

    __slots__ = ("_c",)

    def __init__(self, host: Union[str, bytes], port: int) -> None:
        c = ffi.new("urk_addr_t *")
        if isinstance(host, str):
            host = host.encode()
        _check(lib.urk_addr_parse(host, port, c))
        self._c = c

    @classmethod
    def from_cdata(cls, ptr: Any) -> "Address":
        """Copy of a urk_addr_t (pointer or struct cdata)."""
        self = cls.__new__(cls)
        self._c = ffi.new("urk_addr_t *", ptr[0] if ffi.typeof(ptr).kind == "pointer" else ptr)
        return self

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Address":
        """From raw sockaddr bytes (sockaddr_in / sockaddr_in6)."""
        if len(raw) > 128:
            raise ValueError("sockaddr longer than 128 bytes")
        self = cls.__new__(cls)
        self._c = ffi.new("urk_addr_t *")
        ffi.memmove(self._c.bytes, raw, len(raw))
        self._c.len = len(raw)
        return self

    @property
    def cdata(self) -> Any:
        """The `urk_addr_t *` to pass to C calls; valid while self lives."""
        return self._c

    @property
    def family(self) -> int:
        """socket.AF_INET or socket.AF_INET6 (0 if unset)."""
        return int.from_bytes(bytes(ffi.buffer(self._c.bytes, 2)), "little")

    @property
    def port(self) -> int:
        """Port number in host order."""
        return int.from_bytes(bytes(ffi.buffer(self._c.bytes, 4))[2:4], "big")

    @property
    def host(self) -> str:
        """The address without port and brackets ("::1")."""
        raw = bytes(ffi.buffer(self._c.bytes, self._c.len))
        fam = self.family
        if fam == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8])
        if fam == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, raw[8:24])
        raise ValueError("address family %d not supported" % fam)

    def to_tuple(self) -> Tuple[str, int]:
        """(host, port), as the socket module takes it."""
        return (self.host, self.port)

    def __bytes__(self) -> bytes:
        return bytes(ffi.buffer(self._c.bytes, self._c.len))

    def __str__(self) -> str:
        return format_address(self)

    def __repr__(self) -> str:
        try:
            return "Address(%r)" % str(self)
        except OSError:
            return "Address(<family %d>)" % self.family

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Address) and bytes(self) == bytes(other)

    def __hash__(self) -> int:
        return hash(bytes(self))


def parse_address(host: Union[str, bytes], port: int) -> Address:
    """Address for a numeric literal and port; UrkError(EINVAL) otherwise."""
    return Address(host, port)


def format_address(addr: Union[Address, Tuple[Any, ...]]) -> str:
    """"127.0.0.1:80" / "[::1]:80" for an Address or a (host, port) tuple."""
    if not isinstance(addr, Address):
        addr = Address(*addr)
    buf = ffi.new("char[]", _FORMAT_CAP)
    n = _check(lib.urk_addr_format(addr._c, buf, _FORMAT_CAP))
    return str(ffi.string(buf, n).decode())


def as_address(obj: Union[Address, Tuple[Any, ...], str]) -> Address:
    """An Address from an Address or a (host, port) tuple (IPv6 4-tuples too)."""
    if isinstance(obj, Address):
        return obj
    if isinstance(obj, tuple) and len(obj) >= 2:
        return Address(obj[0], obj[1])
    raise TypeError("expected an Address or a (host, port) tuple, got %r" % (obj,))
