# Installs what the project needs on a fresh Debian machine with Node 20, or says exactly how to.
# Sourced by scripts/test and scripts/demo. Never starts a system service.

ensure_node() {
  local major minor
  if ! command -v node >/dev/null 2>&1; then
    echo "entrechat: Node.js 20.19 or later is needed (https://nodejs.org or: apt-get install -y nodejs npm)" >&2
    exit 1
  fi
  IFS=. read -r major minor _ <<<"$(node -p 'process.versions.node')"
  if [ "$major" -lt 20 ] || { [ "$major" -eq 20 ] && [ "$minor" -lt 19 ]; }; then
    echo "entrechat: Node.js 20.19 or later is needed, found $(node --version)" >&2
    exit 1
  fi
}

# npm ci when node_modules is missing or was installed from another lockfile.
ensure_npm_deps() {
  local stamp=node_modules/.entrechat-lock.sha256
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "entrechat: installing npm packages (npm ci)…" >&2
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
  fi
}

# The Debian packages the project needs: tor (sessions, the private test network, with tor-gencert),
# strace (the suite checks that nothing touches the network outside a session) and tmux (the terminal
# tests run the command line in real terminals), obfs4proxy (the private test network's obfs4 bridge
# and the sessions that reach it only through that bridge).
ENTRECHAT_DEBS=(tor strace tmux obfs4proxy)

# ensure_debs PKG…: installs the missing Debian packages when root, else prints the command.
ensure_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "entrechat: missing Debian packages: ${missing[*]}. Install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "entrechat: installing ${missing[*]} (apt-get)…" >&2
  # Entrechat never uses the system tor service: keep it from starting where a service manager exists.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" -eq 1 ] && rm -f "$policy"
  return 0
}
