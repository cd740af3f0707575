using System;
using System.Runtime.InteropServices;
using Urocket.Interop;

namespace Urocket
{
    /// <summary>
    /// A negative result from the library: Errno is the positive code (an errno
    /// value or a URK_E* code), Name its symbol ("EINVAL", "URK_ESTALE_ID") and
    /// Message the library's own text (urk_strerror).
    /// </summary>
    public class UrkException : Exception
    {
        public int Errno { get; private set; }
        public string Name { get; private set; }
        public string Function { get; private set; }

        public UrkException(int errno, string function)
            : base(Describe(errno, function))
        {
            Errno = errno;
            Name = ErrName(errno);
            Function = function;
        }

        static string Describe(int errno, string function)
        {
            string text = StrError(errno) + " (" + ErrName(errno) + ")";
            return function == null ? text : function + ": " + text;
        }

        /// <summary>urk_strerror: the sign of code is ignored.</summary>
        public static string StrError(int code)
        {
            return Marshal.PtrToStringAnsi(Native.urk_strerror(code));
        }

        /// <summary>urk_err_name: "EINVAL", "URK_ESTALE_ID", or "UNKNOWN".</summary>
        public static string ErrName(int code)
        {
            return Marshal.PtrToStringAnsi(Native.urk_err_name(code));
        }

        /// <summary>The exception for a negative return code rc.</summary>
        public static UrkException From(int rc, string function)
        {
            int code = rc == int.MinValue ? int.MaxValue : Math.Abs(rc);
            switch (code)
            {
                case UrkConst.URK_ESTALE_ID: return new StaleConnectionException(code, function);
                case UrkConst.URK_ECLOSING: return new ConnectionClosingException(code, function);
                case UrkConst.URK_ENOTSUP: return new KernelNotSupportedException(code, function);
                case UrkConst.URK_ESTATE: return new InvalidEngineStateException(code, function);
                case UrkConst.URK_ETHREAD: return new WrongThreadException(code, function);
                case UrkConst.URK_EFRAMING: return new FramingException(code, function);
                case Urocket.Errno.EAGAIN: return new WouldBlockException(code, function);
                case Urocket.Errno.EINVAL: return new UrkArgumentException(code, function);
                default: return new UrkException(code, function);
            }
        }

        /// <summary>Returns rc when it is >= 0, else throws.</summary>
        public static int Check(int rc, string function)
        {
            if (rc < 0)
                throw From(rc, function);
            return rc;
        }
    }

    /// <summary>URK_ESTALE_ID: the connection id names a connection that is gone.</summary>
    public class StaleConnectionException : UrkException
    { public StaleConnectionException(int e, string f) : base(e, f) { } }

    /// <summary>URK_ECLOSING: the connection is closing.</summary>
    public class ConnectionClosingException : UrkException
    { public ConnectionClosingException(int e, string f) : base(e, f) { } }

    /// <summary>URK_ENOTSUP: the running kernel lacks a required feature.</summary>
    public class KernelNotSupportedException : UrkException
    { public KernelNotSupportedException(int e, string f) : base(e, f) { } }

    /// <summary>URK_ESTATE: the call is not valid in this state.</summary>
    public class InvalidEngineStateException : UrkException
    { public InvalidEngineStateException(int e, string f) : base(e, f) { } }

    /// <summary>URK_ETHREAD: a reactor call came from a thread that does not own it.</summary>
    public class WrongThreadException : UrkException
    { public WrongThreadException(int e, string f) : base(e, f) { } }

    /// <summary>URK_EFRAMING: a response did not match the framing.</summary>
    public class FramingException : UrkException
    { public FramingException(int e, string f) : base(e, f) { } }

    /// <summary>EAGAIN: e.g. a send over the connection's send limit.</summary>
    public class WouldBlockException : UrkException
    { public WouldBlockException(int e, string f) : base(e, f) { } }

    /// <summary>EINVAL: an argument the library refused.</summary>
    public class UrkArgumentException : UrkException
    { public UrkArgumentException(int e, string f) : base(e, f) { } }

    /// <summary>The loaded library's ABI differs from the one this binding was written for.</summary>
    public class AbiMismatchException : Exception
    { public AbiMismatchException(string m) : base(m) { } }

    /// <summary>The few Linux errno values the binding names.</summary>
    public static class Errno
    {
        public const int EPERM = 1, ENOENT = 2, EBADF = 9, EAGAIN = 11, ENOMEM = 12, EFAULT = 14,
            EBUSY = 16, EEXIST = 17, EINVAL = 22, ENOSPC = 28, ERANGE = 34, ENOSYS = 38,
            E2BIG = 7, EALREADY = 114, ECONNREFUSED = 111, ECONNRESET = 104, EPIPE = 32,
            ECANCELED = 125, ETIME = 62, ETIMEDOUT = 110, ENOBUFS = 105;
    }
}
