# Shared by the bench scripts (sourced, from the repository root): the .venv they run
# in, and the release binary they measure.

root=$PWD
export PATH="$root/.venv/bin:$HOME/.cargo/bin:$PATH"

# Builds the release binary NAME and prints its path; BENCH names the caller in errors.
release_binary() {
  local name=$1 bench=$2
  if [ ! -x "$root/.venv/bin/moto_server" ]; then
    echo "$bench: $root/.venv/bin/moto_server is missing: run \`make setup\`" >&2
    return 1
  fi
  cargo build --quiet --release --locked --bin "$name" >&2
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  echo "$target_dir/release/$name"
}
