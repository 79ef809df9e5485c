#!/usr/bin/env bash
# Compiles and lints every Bicep file with the bicep CLI restored from NuGet (Azure.Bicep.CommandLine.linux-x64).
# Any warning or error fails the build. Writes the compiled ARM JSON to infra/out/ (not committed).
set -euo pipefail
cd "$(dirname "$0")"
dotnet restore tools/bicep-cli.csproj --verbosity quiet
package="$(dotnet msbuild tools/bicep-cli.csproj -t:PrintBicepPath -nologo -v:m | sed -n 's/.*BICEP_PACKAGE=//p' | tr -d '[:space:]')"
bicep="$package/tools/bicep"
chmod +x "$bicep"
"$bicep" --version
mkdir -p out
status=0
for file in main.bicep modules/*.bicep; do
  log="$(mktemp)"
  if ! "$bicep" build "$file" --outdir out >"$log" 2>&1; then status=1; fi
  if ! "$bicep" lint "$file" >>"$log" 2>&1; then status=1; fi
  if grep -qiE "warning|error" "$log"; then status=1; fi
  sed "s|^|  $file: |" "$log"
  rm -f "$log"
done
if ! "$bicep" build-params main.bicepparam --outfile out/main.parameters.json >/dev/null 2>&1; then
  echo "main.bicepparam does not compile"; status=1
fi
[ "$status" -eq 0 ] && echo "bicep: every file builds and lints clean" || echo "bicep: warnings or errors above"
exit "$status"
