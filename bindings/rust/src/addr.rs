use crate::error::{check, Result};
use crate::sys;
use std::ffi::CString;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An IPv4 or IPv6 socket address (`urk_addr_t`).
#[derive(Clone, Copy)]
pub struct Addr(pub(crate) sys::urk_addr_t);

impl Addr {
    /// Parses a numeric literal (`"127.0.0.1"`, `"::1"`, `"[::1]"`) and a port.
    /// No name resolution: anything else is `InvalidArgument`.
    pub fn parse(host: &str, port: u16) -> Result<Addr> {
        crate::check_abi()?;
        let host = CString::new(host).map_err(|_| crate::Error::from_code(-22))?;
        let mut a = sys::urk_addr_t::zeroed();
        // SAFETY: host is NUL-terminated, a is a valid out pointer.
        check(unsafe { sys::urk_addr_parse(host.as_ptr(), port, &mut a) })?;
        Ok(Addr(a))
    }

    /// From the bytes of an OPEN event (a sockaddr of `len` bytes).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Addr {
        let mut a = sys::urk_addr_t::zeroed();
        let n = bytes.len().min(a.bytes.len());
        a.bytes[..n].copy_from_slice(&bytes[..n]);
        a.len = n as u32;
        Addr(a)
    }

    /// The raw struct.
    pub fn raw(&self) -> &sys::urk_addr_t {
        &self.0
    }

    /// As a std socket address (None for a family other than IPv4/IPv6).
    pub fn to_socket_addr(&self) -> Option<SocketAddr> {
        let b = &self.0.bytes;
        let family = u16::from_ne_bytes([b[0], b[1]]);
        let port = u16::from_be_bytes([b[2], b[3]]);
        match family {
            2 => Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(b[4], b[5], b[6], b[7])),
                port,
            )),
            10 => {
                let mut o = [0u8; 16];
                o.copy_from_slice(&b[8..24]);
                Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), port))
            }
            _ => None,
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(sa: SocketAddr) -> Addr {
        Addr::parse(&sa.ip().to_string(), sa.port()).expect("a std address is a numeric literal")
    }
}

impl fmt::Display for Addr {
    /// `127.0.0.1:80` or `[::1]:80`, formatted by the library.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        // SAFETY: buf has the capacity passed.
        let n = unsafe { sys::urk_addr_format(&self.0, buf.as_mut_ptr().cast(), buf.len() as u32) };
        if n < 0 {
            return write!(f, "<address: {}>", crate::Error::from_code(n));
        }
        f.write_str(std::str::from_utf8(&buf[..n as usize]).unwrap_or("?"))
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Addr({})", self)
    }
}
