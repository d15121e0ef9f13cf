#!/usr/bin/env bash
# Installs the packed tarball the way a user would (`npm install -g`), into an empty prefix, with
# no C/C++ compiler, make or Python on PATH, then runs `coderdb --version`, a direct query and the
# sandbox demo. Usage: .ci/smoke-install.sh TARBALL NODE_BIN_DIR
set -euo pipefail
tarball=$(realpath "$1")
node_dir=$2
work=$(mktemp -d "${TMPDIR:-/tmp}/coderdb-smoke-XXXXXX")
trap 'PATH="$saved_path" coderdb_stop; rm -rf "$work"' EXIT
saved_path=$PATH
coderdb_stop() { [ -x "$work/prefix/bin/coderdb" ] && "$work/prefix/bin/coderdb" sandbox stop >/dev/null 2>&1 || true; }

# A PATH with everything in /usr/bin and /bin except compilers and build tools, so that a package
# that would compile on install (node-gyp) cannot.
mkdir -p "$work/bin" "$work/prefix" "$work/home"
for dir in /usr/local/bin /usr/bin /bin; do
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    case "$name" in
      cc | c++ | cpp | gcc* | g++* | clang* | *-linux-gnu-* | make | gmake | cmake | python* | node-gyp*) continue ;;
    esac
    [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name"
  done
done
rm -f "$work/bin/node" "$work/bin/npm" "$work/bin/npx"
ln -s "$(command -v npm)" "$work/bin/npm"
export PATH="$node_dir:$work/bin"
export HOME="$work/home" XDG_CONFIG_HOME="$work/home/.config" XDG_STATE_HOME="$work/home/.state" \
  XDG_DATA_HOME="$work/home/.data" XDG_CACHE_HOME="$work/home/.cache"
unset CODER_PG_CONNECTION_URL CODERDB_URL CODERDB_PROFILE
export NPM_CONFIG_UPDATE_NOTIFIER=false
for tool in cc gcc g++ make python3; do
  if command -v "$tool" >/dev/null 2>&1; then
    echo "smoke: $tool is still on PATH" >&2
    exit 1
  fi
done

echo "smoke: node $(node --version), npm $(npm --version), no compiler on PATH"
npm install -g --prefix "$work/prefix" --no-audit --no-fund --loglevel=error "$tarball"
coderdb=$work/prefix/bin/coderdb
"$coderdb" --version
"$coderdb" sandbox start >/dev/null
eval "$("$coderdb" sandbox env)"
[ "$("$coderdb" query --transport direct --format csv 'select 6 * 7 as answer')" = $'answer\n42' ]
echo "smoke: direct query ok"
"$coderdb" sandbox stop >/dev/null
"$coderdb" sandbox demo >"$work/demo.log" 2>&1 || {
  tail -40 "$work/demo.log" >&2
  exit 1
}
tail -1 "$work/demo.log"
