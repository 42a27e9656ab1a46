#!/usr/bin/env bash
# Assembles the importable RouterHosts module without pwsh (CI, build machines).
# The same layout as ./build.ps1 -Task Assemble:
#
#   artifacts/module/RouterHosts/
#     RouterHosts.psd1                    the root manifest, paths made relative to this folder
#     RouterHosts.Commands.dll (.pdb .xml) the cmdlets            } PowerShell's default
#     RouterHosts.Model.dll (.pdb .xml)    the user-facing types  } load context
#     RouterHosts.format.ps1xml
#     en-US/RouterHosts.Commands.dll-Help.xml
#     deps/                               everything else (client library, Google.Protobuf,
#                                         Grpc.*, ...), loaded into a private load context
#
# System.Management.Automation.dll must never ship: assembling fails if it shows up.
#
# usage: module/assemble.sh [-c Configuration] [-o OutputDir] [--from BuildOutputDir]
#   -c      build configuration for dotnet publish (default Release)
#   -o      where to assemble (default <repo>/artifacts/module/RouterHosts)
#   --from  lay out an existing build or publish output of RouterHosts.Commands instead of
#           publishing (the metadata tests use this on the Debug build output)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
configuration=Release
out="$repo/artifacts/module/RouterHosts"
from=""

while [ $# -gt 0 ]; do
  case "$1" in
    -c|--configuration) configuration="$2"; shift 2 ;;
    -o|--output) out="$2"; shift 2 ;;
    --from) from="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "assemble.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -z "$from" ]; then
  from="$repo/artifacts/publish/RouterHosts.Commands"
  rm -rf "$from"
  dotnet publish "$repo/src/RouterHosts.Commands/RouterHosts.Commands.csproj" -c "$configuration" -o "$from" --nologo
fi
[ -f "$from/RouterHosts.Commands.dll" ] || { echo "assemble.sh: no RouterHosts.Commands.dll in $from" >&2; exit 1; }

if [ -e "$from/System.Management.Automation.dll" ]; then
  echo "assemble.sh: $from contains System.Management.Automation.dll; it must not ship (PowerShell supplies it)." >&2
  exit 1
fi

case "$(cd "$(dirname "$out")" 2>/dev/null && pwd)/$(basename "$out")" in
  /|"$repo"|"$repo/"|"$HOME"|"$here") echo "assemble.sh: refusing to replace $out" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out/deps" "$out/en-US"

for file in "$from"/*; do
  [ -f "$file" ] || continue
  name="$(basename "$file")"
  case "$name" in
    RouterHosts.Commands.dll|RouterHosts.Commands.pdb|RouterHosts.Commands.xml|\
    RouterHosts.Model.dll|RouterHosts.Model.pdb|RouterHosts.Model.xml)
      cp "$file" "$out/" ;;
    *.dll|*.pdb)
      cp "$file" "$out/deps/" ;;
    *) ;; # deps.json, runtimeconfig, documentation of dependencies: not needed by PowerShell
  esac
done

cp "$here/RouterHosts.format.ps1xml" "$out/"
cp "$repo"/en-US/* "$out/en-US/"  # at the root, so Import-Module ./RouterHosts.psd1 finds the help too
sed 's#artifacts/module/RouterHosts/##g' "$repo/RouterHosts.psd1" > "$out/RouterHosts.psd1"

for required in RouterHosts.psd1 RouterHosts.Commands.dll RouterHosts.Model.dll RouterHosts.format.ps1xml \
                en-US/RouterHosts.Commands.dll-Help.xml deps/RouterHosts.Client.dll; do
  [ -f "$out/$required" ] || { echo "assemble.sh: $out/$required is missing" >&2; exit 1; }
done
echo "assembled the RouterHosts module in $out"
