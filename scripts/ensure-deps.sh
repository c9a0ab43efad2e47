#!/usr/bin/env bash
# Ensures the system packages (and, with --python, the Python packages) the build and
# the tests need. Installs what is missing when running as root; otherwise prints the
# exact command to run and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

system_packages=(libsodium-dev libcmark-gfm-dev libcmark-gfm-extensions-dev libsqlite3-dev pkg-config)
python_packages=()
# The instruction-count gate (make bench-check, part of make test) counts under callgrind,
# on a copy of the binary that objcopy strips of its debug sections.
if [[ "${1:-}" == "--python" || "${1:-}" == "--bench-check" ]]; then
  system_packages+=(valgrind binutils)
fi
if [[ "${1:-}" == "--python" ]]; then
  system_packages+=(chromium chromium-driver)
  # The HTML validator of the site tests runs on Java; any runtime on PATH will do.
  command -v java >/dev/null || system_packages+=(default-jre-headless)
  python_packages=(-r conformance/examples/python/requirements.txt -r Tests/python/requirements.txt)
fi

missing=()
for p in "${system_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    echo "==> installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing system packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ((${#python_packages[@]})); then
  reqs=()
  for f in conformance/examples/python/requirements.txt Tests/python/requirements.txt; do
    [[ -f $f ]] && reqs+=(-r "$f")
  done
  if ((${#reqs[@]})) && ! python3 -m pip install -q --disable-pip-version-check "${reqs[@]}" 2>/tmp/pip-err.$$; then
    cat /tmp/pip-err.$$ >&2
    echo "install the Python test dependencies with: python3 -m pip install ${reqs[*]}" >&2
    exit 1
  fi
fi
