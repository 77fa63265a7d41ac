# shellcheck shell=bash disable=SC2034  # sourced; the variables are used by the sourcing scripts
# Shared by scripts/fixtures, scripts/dockerd, scripts/test and scripts/demo (sourced, not run).
# Defines where every test fixture lives; see docs/testing.md.

F=${LLWS_FIXTURES:-$HOME/.cache/llws-test}
case $F in /*) ;; *) F=$PWD/$F ;; esac
F=${F%/}

MODEL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_DIR=$F/models
LLAMA_DIR=$F/llama
LLAMA_ROOT=$LLAMA_DIR/root
LLAMA_WRAPPER=$LLAMA_DIR/bin/llama-server
IMAGE=llws/llama-server:test
CLAUDE_DIR=$F/claude
CLAUDE_BIN=$CLAUDE_DIR/node_modules/.bin/claude

# The test Docker daemon: its data and log under $F; its sockets (the API socket, and
# containerd's sockets under the exec root) need short paths, because a unix socket path
# has at most 108 bytes. The longest one is exec/containerd/containerd.sock.ttrpc.
DOCKER_DIR=$F/docker
DOCKER_DATA=$DOCKER_DIR/data
DOCKER_PIDFILE=$DOCKER_DIR/docker.pid
DOCKER_LOG=$DOCKER_DIR/dockerd.log
if [ $(( ${#DOCKER_DIR} + 45 )) -lt 100 ]; then
    DOCKER_RUN=$DOCKER_DIR
else
    _hash=$(printf '%s' "$F" | sha256sum | cut -c1-12)
    if [ -w /run ]; then DOCKER_RUN=/run/llws-test-$_hash; else DOCKER_RUN=/tmp/llws-test-$_hash; fi
    unset _hash
fi
DOCKER_EXEC=$DOCKER_RUN/exec
DOCKER_SOCK=$DOCKER_RUN/docker.sock
TEST_DOCKER_HOST=unix://$DOCKER_SOCK

if [ -t 2 ]; then _b=$'\e[1m' _r=$'\e[31m' _0=$'\e[0m'; else _b='' _r='' _0=''; fi
say() { printf '%s==>%s %s\n' "$_b" "$_0" "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '%serror:%s %s\n' "$_r" "$_0" "$*" >&2; exit 1; }

# Runs docker against the test daemon only (never the user's own).
tdocker() { env -u DOCKER_CONTEXT DOCKER_HOST="$TEST_DOCKER_HOST" docker "$@"; }
