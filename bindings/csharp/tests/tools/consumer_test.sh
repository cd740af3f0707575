#!/bin/sh
# The NuGet package as a newcomer uses it: a fresh console project that only
# adds <PackageReference Include="Urocket" /> from build/nuget, with Program.cs
# copied verbatim from the README's echo server, run with `dotnet run` and
# published with native AOT; both echo random payloads byte-exact over
# loopback and exit 0 on a signal. No URK_LIBRARY, no LD_LIBRARY_PATH: the
# library must come out of the package.
#   consumer_test.sh BUILD_DIR VERSION
set -eu
BUILD=$(cd "$1" && pwd)
VERSION=$2
HERE=$(cd "$(dirname "$0")" && pwd)
README=$HERE/../../README.md
PKG=$BUILD/nuget/Urocket.$VERSION.nupkg
[ -f "$PKG" ] || { echo "consumer test: $PKG missing: run make nuget" >&2; exit 1; }
unset URK_LIBRARY LD_LIBRARY_PATH || true

DIR=$BUILD/csharp/consumer
rm -rf "$DIR"
mkdir -p "$DIR/Echo" "$DIR/packages"
# A private package folder, so this run restores the package just built (a
# global folder would keep an older build of the same version); everything
# else comes from the usual folder as a read-only fallback.
cat > "$DIR/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <config><add key="globalPackagesFolder" value="$DIR/packages" /></config>
  <packageSources>
    <clear />
    <add key="urocket" value="$BUILD/nuget" />
    <add key="local" value="/opt/nuget/packages" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
  <fallbackPackageFolders>
    <add key="user" value="${NUGET_PACKAGES:-$HOME/.nuget/packages}" />
  </fallbackPackageFolders>
</configuration>
XML
cat > "$DIR/Echo/Echo.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Urocket" Version="$VERSION" />
  </ItemGroup>
</Project>
XML
# The README's snippet, between its consumer-test markers, without the fences.
sed -n '/<!-- consumer-test:begin -->/,/<!-- consumer-test:end -->/p' "$README" \
    | sed '1,2d;$d' | sed '$d' > "$DIR/Echo/Program.cs"
grep -q "UrkServer" "$DIR/Echo/Program.cs" || { echo "consumer test: no echo server snippet in $README" >&2; exit 1; }
unset NUGET_PACKAGES || true

cd "$DIR/Echo"
echo "consumer test: dotnet run (package from $BUILD/nuget)"
/usr/bin/python3 "$HERE/echo_check.py" --conns 16 --rounds 3 --max-size 262144 --signal INT -- \
    dotnet run -c Release -- --port 0
echo "consumer test: dotnet publish -p:PublishAot=true"
dotnet publish -c Release -r linux-x64 -p:PublishAot=true -o "$DIR/aot" -v:q -nologo
[ -f "$DIR/aot/liburocket.so" ] || { echo "consumer test: the package's liburocket.so is not next to the AOT binary" >&2; exit 1; }
if readelf -d "$DIR/aot/liburocket.so" | grep NEEDED | grep -v -e 'libc\.so' -e 'ld-linux'; then
    echo "consumer test: the packaged liburocket.so needs more than libc" >&2; exit 1
fi
/usr/bin/python3 "$HERE/echo_check.py" --conns 16 --rounds 3 --max-size 262144 --signal TERM -- \
    "$DIR/aot/Echo" --port 0
echo "consumer test: passed (dotnet run and native AOT)"
