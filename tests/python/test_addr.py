"""Address helpers (urk_addr_parse / urk_addr_format)."""
import errno
import ipaddress
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import urocket
from urocket import Address


def test_parse_and_format_v4_v6():
    a = urocket.parse_address("127.0.0.1", 8080)
    assert str(a) == "127.0.0.1:8080" and a.to_tuple() == ("127.0.0.1", 8080)
    assert a.family == socket.AF_INET and len(bytes(a)) == 16
    b = Address("::1", 443)
    assert str(b) == "[::1]:443" and b.family == socket.AF_INET6 and len(bytes(b)) == 28
    assert Address("[::1]", 443) == b and hash(Address("[::1]", 443)) == hash(b)
    assert urocket.format_address(("::ffff:1.2.3.4", 1)) == "[::ffff:1.2.3.4]:1"
    assert repr(a) == "Address('127.0.0.1:8080')"


@pytest.mark.parametrize("host", ["localhost", "", "1.2.3", "[127.0.0.1]", "[::1", "::1]",
                                  "1.2.3.4:80", "x" * 100])
def test_parse_refuses_non_literals(host):
    with pytest.raises(urocket.UrkError) as ei:
        Address(host, 1)
    assert ei.value.errno == errno.EINVAL


def test_bad_argument_types():
    with pytest.raises(OverflowError):
        Address("127.0.0.1", 65536)
    with pytest.raises(TypeError):
        Address(None, 1)
    with pytest.raises(urocket.UrkError) as ei:  # unset family
        str(Address.from_bytes(b"\0" * 16))
    assert ei.value.errno == errno.EAFNOSUPPORT
    with pytest.raises(ValueError):
        Address.from_bytes(b"\0" * 129)


def test_from_bytes_of_a_real_sockaddr():
    raw = struct.pack("<H", socket.AF_INET) + struct.pack(">H", 9) + socket.inet_aton("127.0.0.2")
    a = Address.from_bytes(raw + b"\0" * 8)
    assert str(a) == "127.0.0.2:9" and a == Address("127.0.0.2", 9)
    c = Address.from_cdata(a.cdata)
    assert c == a and c.cdata != a.cdata


@settings(max_examples=200, deadline=None, database=None)
@given(st.ip_addresses(), st.integers(0, 65535))
def test_roundtrip_any_ip(ip, port):
    a = Address(str(ip), port)
    assert a.port == port
    assert ipaddress.ip_address(a.host) == ip
    text = str(a)
    if ip.version == 4:
        assert text == "%s:%d" % (ip, port)
    else:  # inet_ntop and ipaddress may spell a v6 address differently
        host, _, p = text.rpartition(":")
        assert host[0] == "[" and host[-1] == "]" and p == str(port)
        assert ipaddress.ip_address(host[1:-1]) == ip
        assert Address(host, port) == a


def test_unix_path_and_abstract(tmp_path):
    path = str(tmp_path / "s.sock")
    a = Address("unix:" + path, 1234)  # the port is ignored
    assert a.family == socket.AF_UNIX and a.port == 0
    assert str(a) == "unix:" + path and a.host == "unix:" + path
    assert a.path == path and a.to_tuple() == path
    assert Address(a.host, 0) == a
    # What the C side parsed is what the socket module binds and connects.
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(a.path)
    srv.listen(1)
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cli.connect(a.to_tuple())
    assert Address.from_bytes(bytes(a)) == a
    cli.close()
    srv.close()
    b = Address("unix:@urk-test-abstract", 0)
    assert str(b) == "unix:@urk-test-abstract" and b.path == "\0urk-test-abstract"
    assert len(bytes(b)) == 2 + 1 + len("urk-test-abstract")


def test_unix_limits():
    Address("unix:/" + "p" * 106, 0)  # 107 bytes: the most sun_path holds with its NUL
    for spec in ("unix:/" + "p" * 107, "unix:@" + "n" * 108):
        with pytest.raises(urocket.UrkError) as ei:
            Address(spec, 0)
        assert ei.value.errno == errno.ENAMETOOLONG
    for spec in ("unix:", "unix:@"):
        with pytest.raises(urocket.UrkError) as ei:
            Address(spec, 0)
        assert ei.value.errno == errno.EINVAL
