# Virtual environments kept between runs (sourced by scripts/python-tests
# and bench/compare.sh). Each holds a stamp, the hash of what it was made
# from, and is installed into again when that changes, so a changed
# requirement or pin is never tested against the old install.

# ensure_venv DIR STAMP PIP_ARGS...: makes DIR where missing and installs
# PIP_ARGS into it unless its stamp is STAMP.
ensure_venv() {
  local dir=$1 stamp=$2
  shift 2
  if [ ! -x "$dir/bin/python" ]; then
    echo "venv: creating $dir"
    "${PYTHON:-python3}" -m venv "$dir"
    "$dir/bin/python" -m pip install --quiet --upgrade pip
  fi
  if [ "$(cat "$dir/.dagtrail-stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "venv: installing into $dir: $*"
    "$dir/bin/python" -m pip install --quiet "$@"
    echo "$stamp" >"$dir/.dagtrail-stamp"
  fi
}

# stamp_of WORDS -- FILES...: the hash of the words and the files' contents.
stamp_of() {
  local words=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do words+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  { printf '%s\n' ${words[@]+"${words[@]}"}; cat -- "$@"; } | sha256sum | cut -d' ' -f1
}
