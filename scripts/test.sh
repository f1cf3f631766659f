#!/usr/bin/env bash
# All the tests, Rust and Python: `cargo test` for the workspace's core
# crate, then the Python package built and installed into a virtualenv under
# target/ (`pip install ./python`, as a user would) and its pytest suite.
# Extra arguments go to pytest. Needs a Rust toolchain and Python >= 3.11
# with venv; everything else comes from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --all-features  # serde (default) and the ndarray views of numeric arrays

venv=target/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q "maturin>=1.8,<2" "pytest>=7" "hypothesis>=6" numpy
"$venv/bin/python" -m pip install -q ./python
# From the tests' folder, so that `import shmheap` finds the installed
# package, not the sources next to it.
(cd python/tests && "../../$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" .)
