use crate::sys;
use std::fmt;

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// URK_ESTALE_ID: the connection id names a connection that is gone.
    StaleId,
    /// URK_ECLOSING: the connection is closing.
    Closing,
    /// URK_ENOTSUP: the kernel lacks a required feature.
    NotSupported,
    /// URK_ESTATE: the call is not valid in this state.
    State,
    /// URK_ETHREAD: a reactor call from a thread that does not own it.
    WrongThread,
    /// URK_EFRAMING: a response did not match the framing.
    Framing,
    /// EAGAIN: e.g. over a connection's send limit.
    WouldBlock,
    /// EINVAL, ERANGE (e.g. a reactor index out of range): an argument the
    /// library refused.
    InvalidArgument,
    /// The loaded library has another ABI than this crate.
    AbiMismatch,
    /// Any other errno.
    Other,
}

/// A negative result of the library: the positive code (errno or URK_E*),
/// with its name and message from `urk_err_name` / `urk_strerror`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error {
    code: i32,
}

const EAGAIN: i32 = 11;
const EINVAL: i32 = 22;
const ERANGE: i32 = 34;
const ABI_MISMATCH: i32 = -1; // never a library code

impl Error {
    /// The error for a negative return code (the sign is ignored).
    pub fn from_code(rc: i32) -> Error {
        Error {
            code: rc.checked_abs().unwrap_or(i32::MAX),
        }
    }

    pub(crate) fn abi_mismatch() -> Error {
        Error { code: ABI_MISMATCH }
    }

    /// The positive errno or URK_E* code.
    pub fn errno(&self) -> i32 {
        self.code
    }

    /// "EINVAL", "URK_ESTALE_ID", or "UNKNOWN".
    pub fn name(&self) -> &'static str {
        if self.code == ABI_MISMATCH {
            return "ABI_MISMATCH";
        }
        // SAFETY: always returns a static string.
        unsafe { crate::static_str(sys::urk_err_name(self.code)) }
    }

    /// The library's message for the code.
    pub fn message(&self) -> &'static str {
        if self.code == ABI_MISMATCH {
            return "the loaded liburocket has another ABI version than this crate";
        }
        // SAFETY: always returns a static string.
        unsafe { crate::static_str(sys::urk_strerror(self.code)) }
    }

    pub fn kind(&self) -> ErrorKind {
        match self.code {
            sys::URK_ESTALE_ID => ErrorKind::StaleId,
            sys::URK_ECLOSING => ErrorKind::Closing,
            sys::URK_ENOTSUP => ErrorKind::NotSupported,
            sys::URK_ESTATE => ErrorKind::State,
            sys::URK_ETHREAD => ErrorKind::WrongThread,
            sys::URK_EFRAMING => ErrorKind::Framing,
            EAGAIN => ErrorKind::WouldBlock,
            EINVAL | ERANGE => ErrorKind::InvalidArgument,
            ABI_MISMATCH => ErrorKind::AbiMismatch,
            _ => ErrorKind::Other,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.name())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Error {{ errno: {}, name: {:?}, message: {:?} }}",
            self.code,
            self.name(),
            self.message()
        )
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    /// An errno keeps its raw OS error (and std's kind for it); ERANGE and
    /// the library's own codes get the nearest [`std::io::ErrorKind`], with
    /// the [`Error`] inside.
    fn from(e: Error) -> std::io::Error {
        use std::io::ErrorKind as K;
        let kind = match e.kind() {
            ErrorKind::StaleId => K::NotConnected,
            ErrorKind::Closing => K::BrokenPipe,
            ErrorKind::NotSupported => K::Unsupported,
            ErrorKind::Framing => K::InvalidData,
            ErrorKind::InvalidArgument if e.code == ERANGE => K::InvalidInput,
            _ if e.code > 0 && e.code < sys::URK_EBASE => {
                return std::io::Error::from_raw_os_error(e.code)
            }
            _ => K::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// >= 0 is success (a count), < 0 an error code.
pub(crate) fn check(rc: i32) -> Result<u32> {
    if rc < 0 {
        Err(Error::from_code(rc))
    } else {
        Ok(rc as u32)
    }
}
