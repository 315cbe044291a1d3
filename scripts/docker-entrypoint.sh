#!/bin/sh
# The container's entry point (Dockerfile): runs a p2proxy role under exactly the permissions
# `p2proxy permissions` computes for its command and config, instead of -A.
#
#   docker run … p2proxy proxy -c /etc/p2proxy/Config.yaml [--log-level debug] [--no-ui]
#   docker run … p2proxy auth serve -c /etc/p2proxy/Auth.yaml
#   docker run … p2proxy demo --port 1080
#
# Other commands (keygen, id, check, service, …) are tools an operator runs by hand: they may
# read, write the state dir, and read the environment.
#
# DENO and P2PROXY_ENTRY say which deno and which p2proxy to run (a test runs this script
# against the checkout's cli/main.ts).
set -eu

DENO="${DENO:-deno}"
ENTRY="${P2PROXY_ENTRY:-/app/p2proxy.js}"

# One word in single quotes, as a shell reads it back unchanged.
quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

tool() {
  exec "$DENO" run --no-prompt --allow-read --allow-write="${P2PROXY_STATE_DIR:-.}" \
    --allow-env "$ENTRY" "$@"
}

[ "$#" -gt 0 ] || tool --help
case "$1" in
  proxy | exit | hub | demo) role="$1" ;;
  auth) if [ "${2:-}" = "serve" ]; then role=auth; else tool "$@"; fi ;;
  *) tool "$@" ;;
esac

# The whole command line, quoted, for the run; the flags `permissions` takes, for the computation
# (the others — log level, format, --no-ui — only matter to the run).
all=""
for word in "$@"; do all="$all $(quote "$word")"; done
asked="$role"
shift
[ "$role" = "auth" ] && shift
while [ "$#" -gt 0 ]; do
  case "$1" in
    -c | --config | --state-dir | --port | --whoami-port | --metrics-port | --admin-port)
      if [ "$#" -lt 2 ]; then
        echo "p2proxy: $1 needs a value." >&2
        exit 2
      fi
      asked="$asked $(quote "$1") $(quote "$2")"
      shift 2
      ;;
    --config=* | --state-dir=* | --port=* | --whoami-port=* | --metrics-port=* | --admin-port=*)
      asked="$asked $(quote "$1")"
      shift
      ;;
    *) shift ;;
  esac
done

# `permissions` reads the config, the plugin list and the environment; it prints shell words.
flags=$(eval "\"\$DENO\" run --no-prompt --allow-read --allow-env \"\$ENTRY\" permissions $asked \
  --flags-only")
eval "exec \"\$DENO\" run $flags \"\$ENTRY\" $all"
