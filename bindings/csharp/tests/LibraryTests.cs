// Finding and checking the native library: URK_LIBRARY, next to the app,
// the package's runtimes/linux-x64/native/, the system path; clear errors
// that name every place looked at and, for a wrong library, both versions.
using System;
using System.Diagnostics;
using System.IO;
using System.Runtime.InteropServices;
using Urocket.Interop;
using Xunit;

namespace Urocket.Tests
{
    public class LibraryTests
    {
        static string TempDir()
        {
            string d = Path.Combine(Path.GetTempPath(), "urk-cs-" + Guid.NewGuid().ToString("N"));
            Directory.CreateDirectory(d);
            return d;
        }

        [Fact]
        public static void LoadedLibraryIsChecked()
        {
            Library.Initialize();
            Check.True(File.Exists(Library.LoadedPath) || Library.LoadedPath.StartsWith("liburocket.so"),
                       "loaded path " + Library.LoadedPath);
            Check.Equal(Library.ExpectedAbi, Library.AbiVersion, "ABI");
        }

        [Fact]
        public static void MissingUrkLibraryIsNamed()
        {
            var ex = Assert.Throws<DllNotFoundException>(() => Library.Probe("/nonexistent/liburocket.so.0", null, null));
            Check.True(ex.Message.Contains("URK_LIBRARY") && ex.Message.Contains("/nonexistent/liburocket.so.0"), ex.Message);
        }

        [Fact]
        public static void NotFoundNamesEveryPlace()
        {
            // The system search is replaced by one that finds nothing, so the
            // message is tested even where liburocket.so.0 is installed.
            string dir = TempDir();
            var asked = new System.Collections.Generic.List<string>();
            var ex = Assert.Throws<DllNotFoundException>(() => Library.Probe(null, dir, "/nonexistent-host-dir",
                soname => { asked.Add(soname); return IntPtr.Zero; }));
            Check.Equal("liburocket.so.0,liburocket.so", string.Join(",", asked), "sonames asked of the system search, in order");
            foreach (var place in new[] {
                Path.Combine(dir, "liburocket.so"), Path.Combine(dir, "liburocket.so.0"),
                Path.Combine(dir, "runtimes/linux-x64/native/liburocket.so"),
                "/nonexistent-host-dir/liburocket.so", "liburocket.so.0 on the system", "liburocket.so on the system", "URK_LIBRARY" })
                Check.True(ex.Message.Contains(place), "message names " + place + ": " + ex.Message);
        }

        [Fact]
        public static void FoundNextToTheAppAndInThePackageLayout()
        {
            string real = Path.GetFullPath(Library.LoadedPath);
            string dir = TempDir();
            File.CreateSymbolicLink(Path.Combine(dir, "liburocket.so"), real);
            Check.Equal(Path.Combine(dir, "liburocket.so"), Library.Probe(null, dir, null).Path, "next to the app");
            string pkg = TempDir();
            Directory.CreateDirectory(Path.Combine(pkg, "runtimes/linux-x64/native"));
            File.CreateSymbolicLink(Path.Combine(pkg, "runtimes/linux-x64/native/liburocket.so"), real);
            Check.Equal(Path.Combine(pkg, "runtimes/linux-x64/native/liburocket.so"), Library.Probe(null, pkg, null).Path,
                        "package layout");
        }

        [Fact]
        public static void WrongVersionNamesPathAndBothVersions()
        {
            // A stand-in library that reports version 7.1.2, ABI 99.
            string dir = TempDir();
            string c = Path.Combine(dir, "fake.c"), so = Path.Combine(dir, "liburocket.so");
            File.WriteAllText(c, "unsigned urk_abi_version(void) { return 99; }\n" +
                                 "unsigned urk_version(void) { return (7u << 16) | (1u << 8) | 2u; }\n");
            using (var cc = Process.Start(new ProcessStartInfo("cc", "-shared -fPIC -o " + so + " " + c)))
            {
                cc.WaitForExit();
                Check.Equal(0, cc.ExitCode, "cc builds the stand-in library");
            }
            var ex = Assert.Throws<AbiMismatchException>(() => Library.Probe(so, null, null));
            foreach (var part in new[] { so, "7.1.2", "ABI 99", "needs ABI " + UrkConst.URK_ABI_VERSION })
                Check.True(ex.Message.Contains(part), "message names " + part + ": " + ex.Message);
            var ex2 = Assert.Throws<AbiMismatchException>(() => Library.Probe(null, dir, null));
            Check.True(ex2.Message.Contains(so), ex2.Message);
        }
    }
}
