// Connection.ConnectionClosed: a CancellationToken for code that must learn of a
// close without reading (a transport whose pipe reader belongs to someone else).
using System;
using System.Threading;

namespace Urocket
{
    public sealed unsafe partial class Connection
    {
        CancellationTokenSource closedCts;
        int closedFired;

        /// <summary>Cancelled once the engine reports the connection closed (the
        /// peer's FIN or reset, our close or abort) or the server stops. Its
        /// callbacks run on the thread pool, never on a reactor thread. Created on
        /// first use; already cancelled when asked for after the close.</summary>
        public CancellationToken ConnectionClosed
        {
            get
            {
                if (Volatile.Read(ref closedFired) != 0)
                    return new CancellationToken(true);
                var cts = Volatile.Read(ref closedCts);
                if (cts == null)
                {
                    var created = new CancellationTokenSource();
                    cts = Interlocked.CompareExchange(ref closedCts, created, null) ?? created;
                    if (Volatile.Read(ref closedFired) != 0)
                        cts.Cancel(); // the close raced with the creation
                }
                return cts.Token;
            }
        }

        // Called on the reactor thread by OnClosed/OnStopped.
        void FireConnectionClosed()
        {
            if (Interlocked.Exchange(ref closedFired, 1) != 0)
                return;
            var cts = Volatile.Read(ref closedCts);
            if (cts == null)
                return;
            ThreadPool.UnsafeQueueUserWorkItem(static s =>
            {
                var c = (Connection)s;
                try { c.closedCts.Cancel(); }
                catch (Exception e) { c.Loop.Server.ReportError(e, c.id); }
            }, this, preferLocal: false);
        }
    }
}
