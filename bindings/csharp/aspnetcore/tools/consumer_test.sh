#!/bin/sh
# Urocket.AspNetCore as a newcomer uses it: a fresh ASP.NET Core project that
# only adds <PackageReference Include="Urocket.AspNetCore" /> from build/nuget
# (Urocket comes with it), with Program.cs copied verbatim from the README's
# snippet, built with `dotnet build` and run (the app itself, so that SIGINT
# reaches it, not a `dotnet run` in between): GET / and a 1 MiB POST /echo answer right,
# `wrk -c512 -d3s` sees no error, SIGINT stops it with exit 0. No URK_LIBRARY,
# no LD_LIBRARY_PATH: the native library must come out of the Urocket package.
#   consumer_test.sh BUILD_DIR VERSION
set -eu
BUILD=$(cd "$1" && pwd)
VERSION=$2
HERE=$(cd "$(dirname "$0")" && pwd)
README=$HERE/../../README.md
for p in Urocket Urocket.AspNetCore; do
    [ -f "$BUILD/nuget/$p.$VERSION.nupkg" ] || { echo "aspnet consumer test: $BUILD/nuget/$p.$VERSION.nupkg missing: run make nuget" >&2; exit 1; }
done
unset URK_LIBRARY LD_LIBRARY_PATH || true

DIR=$BUILD/csharp/aspnet-consumer
rm -rf "$DIR"
mkdir -p "$DIR/Hello" "$DIR/packages"
# A private package folder, so this run restores the packages just built.
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
cat > "$DIR/Hello/Hello.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk.Web">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Urocket.AspNetCore" Version="$VERSION" />
  </ItemGroup>
</Project>
XML
sed -n '/<!-- aspnet-consumer-test:begin -->/,/<!-- aspnet-consumer-test:end -->/p' "$README" \
    | sed '1,2d;$d' | sed '$d' > "$DIR/Hello/Program.cs"
grep -q "UseUrocket" "$DIR/Hello/Program.cs" || { echo "aspnet consumer test: no UseUrocket snippet in $README" >&2; exit 1; }
unset NUGET_PACKAGES || true

cd "$DIR/Hello"
echo "aspnet consumer test: dotnet build (packages from $BUILD/nuget), run, check"
dotnet build -c Release -v:q -nologo -o "$DIR/out"
[ -f "$DIR/out/runtimes/linux-x64/native/liburocket.so" ] || [ -f "$DIR/out/liburocket.so" ] || {
    echo "aspnet consumer test: the Urocket package's liburocket.so is not in the build output" >&2; exit 1; }
/usr/bin/python3 "$HERE/aspnet_check.py" --no-json -- \
    "$DIR/out/Hello" --urls http://127.0.0.1:0 --Logging:LogLevel:Default=Warning --Logging:LogLevel:Microsoft.Hosting.Lifetime=Information
echo "aspnet consumer test: passed"
