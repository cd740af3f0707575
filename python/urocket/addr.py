"""Socket addresses (urk_addr_t): numeric IPv4/IPv6 literals and Unix-domain
stream sockets ("unix:/path", abstract "unix:@name"), no DNS."""
import socket

from ._ffi import ffi, lib
from .errors import _check

__all__ = ["Address", "parse_address", "format_address"]

_FORMAT_CAP = 128  # "unix:@" + a 107-byte name + NUL, or a bracketed IPv6 and port


class Address:
    """An IPv4 or IPv6 address and port, or a Unix-domain socket, stored as
    the C urk_addr_t.

    Address("127.0.0.1", 80), Address("::1", 80), Address("[::1]", 80),
    Address("unix:/run/app.sock", 0) and Address("unix:@name", 0) parse with
    urk_addr_parse (the port is ignored for unix:); str() formats with
    urk_addr_format ("127.0.0.1:80", "[::1]:80", "unix:/run/app.sock").
    Equal when the sockaddr bytes are equal.
    """

    __slots__ = ("_c",)

    def __init__(self, host, port):
        c = ffi.new("urk_addr_t *")
        if isinstance(host, str):
            host = host.encode()
        _check(lib.urk_addr_parse(host, port, c))
        self._c = c

    @classmethod
    def from_cdata(cls, ptr):
        """Copy of a urk_addr_t (pointer or struct cdata)."""
        self = cls.__new__(cls)
        self._c = ffi.new("urk_addr_t *", ptr[0] if ffi.typeof(ptr).kind == "pointer" else ptr)
        return self

    @classmethod
    def from_bytes(cls, raw):
        """From raw sockaddr bytes (sockaddr_in / sockaddr_in6)."""
        if len(raw) > 128:
            raise ValueError("sockaddr longer than 128 bytes")
        self = cls.__new__(cls)
        self._c = ffi.new("urk_addr_t *")
        ffi.memmove(self._c.bytes, raw, len(raw))
        self._c.len = len(raw)
        return self

    @property
    def cdata(self):
        """The `urk_addr_t *` to pass to C calls; valid while self lives."""
        return self._c

    @property
    def family(self):
        """socket.AF_INET, socket.AF_INET6 or socket.AF_UNIX (0 if unset)."""
        return int.from_bytes(bytes(ffi.buffer(self._c.bytes, 2)), "little")

    @property
    def port(self):
        """Port number in host order (0 for a Unix-domain socket)."""
        if self.family == socket.AF_UNIX:
            return 0
        return int.from_bytes(bytes(ffi.buffer(self._c.bytes, 4))[2:4], "big")

    @property
    def host(self):
        """The address without port and brackets ("::1"); for a Unix-domain
        socket the spelling Address() takes ("unix:/path", "unix:@name")."""
        raw = bytes(ffi.buffer(self._c.bytes, self._c.len))
        fam = self.family
        if fam == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8])
        if fam == socket.AF_INET6:
            return socket.inet_ntop(socket.AF_INET6, raw[8:24])
        if fam == socket.AF_UNIX:
            return format_address(self)
        raise ValueError("address family %d not supported" % fam)

    @property
    def path(self):
        """A Unix-domain socket's address as the socket module takes it:
        "/path", or "\\0name" for an abstract name ("" if unnamed)."""
        if self.family != socket.AF_UNIX:
            raise ValueError("not a Unix-domain address")
        raw = bytes(ffi.buffer(self._c.bytes, self._c.len))[2:]
        if raw[:1] == b"\0":
            return raw.decode("utf-8", "surrogateescape")
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")

    def to_tuple(self):
        """(host, port), as the socket module takes it; for a Unix-domain
        socket its path (as socket.getpeername() gives it)."""
        if self.family == socket.AF_UNIX:
            return self.path
        return (self.host, self.port)

    def __bytes__(self):
        return bytes(ffi.buffer(self._c.bytes, self._c.len))

    def __str__(self):
        return format_address(self)

    def __repr__(self):
        try:
            return "Address(%r)" % str(self)
        except OSError:
            return "Address(<family %d>)" % self.family

    def __eq__(self, other):
        return isinstance(other, Address) and bytes(self) == bytes(other)

    def __hash__(self):
        return hash(bytes(self))


def parse_address(host, port):
    """Address for a numeric literal and port, or "unix:/path" /
    "unix:@name"; UrkError(EINVAL, or ENAMETOOLONG for a Unix path over 107
    bytes) otherwise."""
    return Address(host, port)


def format_address(addr):
    """"127.0.0.1:80" / "[::1]:80" / "unix:/path" for an Address or a
    (host, port) tuple."""
    if not isinstance(addr, Address):
        addr = Address(*addr)
    buf = ffi.new("char[]", _FORMAT_CAP)
    n = _check(lib.urk_addr_format(addr._c, buf, _FORMAT_CAP))
    return ffi.string(buf, n).decode()


def as_address(obj):
    """An Address from an Address or a (host, port) tuple (IPv6 4-tuples too)."""
    if isinstance(obj, Address):
        return obj
    if isinstance(obj, tuple) and len(obj) >= 2:
        return Address(obj[0], obj[1])
    raise TypeError("expected an Address or a (host, port) tuple, got %r" % (obj,))
