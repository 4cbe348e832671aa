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
# python3-stem python3-psutil python3-yaml: Whonix's onion-grater, run in test/e2e/tor-grater.test.ts.
# chromium-headless-shell: the page's tests run in a real browser (playwright-core drives it).
ENTRECHAT_DEBS=(tor strace tmux obfs4proxy python3-stem python3-psutil python3-yaml chromium-headless-shell)

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

# Debian 12's Node 18.20 (the Node of nodejs-mobile, which a native shell would run the bundle with:
# docs/mobile.md), for test/e2e/node18.test.ts: its packages are downloaded (apt-get download, any user)
# and unpacked with dpkg -x into .cache/node18/root, never installed, never replacing the system's node.
# Fetched are nodejs and libnode108 at the 18.20 version apt knows, the JavaScript packages libnode108
# reads at start-up (node-acorn, node-cjs-module-lexer, node-undici), and the libraries it links to that
# this machine lacks (libc-ares2 here). Debian's libnode reads those JavaScript files from
# /usr/share/nodejs/…, an absolute path in the library: the unpacked copy is patched to the same path
# without its first slash (the same length, NUL-padded), so that node run with root/ as its working
# folder finds them in the unpacked tree. .cache/node18/node runs it: `.cache/node18/node ABS_PATH…`
# (paths must be absolute: it starts in root/). Returns 1, saying why, when it cannot be fetched.
NODE18_DIR=.cache/node18
ensure_node18() {
  [ -x "$NODE18_DIR/node" ] && return 0
  local version tmp pkg deps=() missing
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "entrechat: Node 18 for the compatibility test comes from Debian 12's packages: apt-get and dpkg are needed" >&2
    return 1
  fi
  version=$(apt-cache madison nodejs 2>/dev/null | awk '$3 ~ /^18\.20\./ { print $3; exit }')
  if [ -z "$version" ] && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    version=$(apt-cache madison nodejs 2>/dev/null | awk '$3 ~ /^18\.20\./ { print $3; exit }')
  fi
  if [ -z "$version" ]; then
    echo "entrechat: apt knows no nodejs 18.20 (Debian 12 \"bookworm\"): run apt-get update, or add bookworm's sources" >&2
    return 1
  fi
  for pkg in $(apt-cache depends "libnode108=$version" 2>/dev/null | awk '$1 == "Depends:" && $2 !~ /^</ { print $2 }'); do
    case "$pkg" in
      node-*) deps+=("$pkg") ;;
      *) dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || deps+=("$pkg") ;;
    esac
  done
  mkdir -p "$(dirname "$NODE18_DIR")"
  tmp=$(realpath "$(mktemp -d "$NODE18_DIR.tmp.XXXXXX")")
  if ! (cd "$tmp" && apt-get download -q "nodejs=$version" "libnode108=$version" "${deps[@]}" >/dev/null 2>&1); then
    echo "entrechat: apt-get download of nodejs $version and ${deps[*]} failed (no Debian mirror reachable?)" >&2
    rm -rf "$tmp"
    return 1
  fi
  for pkg in "$tmp"/*.deb; do dpkg -x "$pkg" "$tmp/root"; done
  rm -f "$tmp"/*.deb
  local lib
  lib=$(dirname "$(find "$tmp/root" -name 'libnode.so.108' | head -n 1)")
  perl -0777 -pi -e 's{/(usr/share/nodejs/[\w./-]+)\0}{$1\0\0}g' "$lib/libnode.so.108"
  cat >"$tmp/node" <<WRAPPER
#!/bin/sh
# Debian's Node $version unpacked by scripts/lib/ensure.sh (ensure_node18): it must start in root/.
here=\$(dirname "\$(readlink -f "\$0")")
cd "\$here/root" || exit 1
LD_LIBRARY_PATH="\$here/root/${lib#"$tmp/root/"}" exec ./usr/bin/node "\$@"
WRAPPER
  chmod 755 "$tmp/node"
  missing=$(cd "$tmp/root" && LD_LIBRARY_PATH="$lib" ldd ./usr/bin/node | grep 'not found' || true)
  if [ -n "$missing" ] || ! "$tmp/node" -e 'process.exit(process.versions.node.startsWith("18.20.") ? 0 : 1)'; then
    echo "entrechat: the unpacked Node $version does not start here${missing:+ (missing: $missing)}" >&2
    rm -rf "$tmp"
    return 1
  fi
  # Another run may have made it meanwhile: keep theirs.
  if ! mv -T "$tmp" "$NODE18_DIR" 2>/dev/null; then rm -rf "$tmp"; fi
  [ -x "$NODE18_DIR/node" ]
}
