# Sourced by .ci scripts: node_bin VERSION prints the bin directory of that Node.js release, taken
# from the npm registry's `node` package (which ships the binary) and cached between runs.
node_bin() {
  local version=$1
  local dir="${CODERDB_CI_CACHE:-${TMPDIR:-/tmp}/coderdb-ci}/node-${version}"
  if [ ! -x "$dir/node_modules/node/bin/node" ]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    npm install --no-audit --no-fund --no-save --loglevel=error --prefix "$dir" "node@${version}" >/dev/null
  fi
  echo "$dir/node_modules/node/bin"
}
