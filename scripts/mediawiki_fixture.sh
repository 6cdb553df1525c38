#!/usr/bin/env bash
# mediawiki_fixture.sh — a real, throw-away MediaWiki for learnloop's integration tests.
#
# Uses Debian's `mediawiki` package (1.39 LTS on bookworm), SQLite and PHP's built-in web
# server on 127.0.0.1. No Apache, no systemd, nothing under /etc is changed: every wiki lives
# entirely in its own directory (LocalSettings.php, SQLite files, logs, PID file), so several
# wikis can run side by side on different ports.
#
# Usage:
#   scripts/mediawiki_fixture.sh install
#       apt-get installs the packages if any is missing (needs root or passwordless sudo).
#   scripts/mediawiki_fixture.sh start [--port N] [--dir DIR] [--workers N]
#       Creates a FRESH wiki in DIR (default: a new temp dir; an existing fixture dir is wiped),
#       starts `php -S 127.0.0.1:N` (default port 8765) and waits until the API answers.
#       Prints shell-evaluable lines on stdout, everything else goes to stderr:
#         eval "$(scripts/mediawiki_fixture.sh start --port 8765)"
#       --workers N sets PHP_CLI_SERVER_WORKERS. Default 1: one request at a time, so even
#       MediaWiki's post-send deferred updates of a request are done before the next one is
#       served. Use more if a request of the wiki must wait for something that calls back
#       into the wiki (e.g. a synchronous webhook receiver using the API), or it deadlocks.
#   scripts/mediawiki_fixture.sh stop [--dir DIR]
#       Stops the server started for DIR and removes DIR. DIR defaults to $MEDIAWIKI_DIR if
#       that is exported, e.g. after: set -a; eval "$(scripts/mediawiki_fixture.sh start)"; set +a
#
# Output of `start` (values are shell-quoted with printf %q):
#   MEDIAWIKI_URL, MEDIAWIKI_API, MEDIAWIKI_BOT_USER, MEDIAWIKI_BOT_PASSWORD,
#   MEDIAWIKI_ADMIN_USER, MEDIAWIKI_ADMIN_PASSWORD, MEDIAWIKI_DIR, MEDIAWIKI_PID
set -euo pipefail

readonly MW_IP=/usr/share/mediawiki   # where Debian installs MediaWiki core
readonly PACKAGES=(mediawiki php-cli php-sqlite3 php-intl php-mbstring php-xml php-curl curl)
readonly DEFAULT_PORT=8765
readonly WIKI_NAME=LearnloopTest
readonly ADMIN_USER=Admin
readonly ADMIN_PASSWORD=Learnloop_Fixture-Adm1n.2024   # test-only, loopback-only wiki
readonly BOT_APPID=learnloop
# Bot passwords must match ^[0-9a-w]{32,}$ (the shape MediaWiki generates itself); anything else
# is rejected by BotPassword::canonicalizeLoginData() with a misleading "Incorrect username or password".
readonly BOT_PASSWORD=learnloopbot0123456789abcdefghijk   # note: no x, y, z
# Read, high-volume, edit/create/move pages, delete, edit MediaWiki: messages and site JS/CSS/JSON
# (MediaWiki:Common.js needs `editsitejs`, which comes with the `editsiteconfig` grant).
readonly BOT_GRANTS=basic,highvolume,editpage,createeditmovepage,delete,editinterface,editsiteconfig
readonly MARKER=.learnloop-mediawiki-fixture   # only dirs holding this file are ever wiped
readonly START_TIMEOUT=60
readonly INSTALL_LOCK=/var/lock/learnloop-mediawiki-fixture.install.lock

export DEBIAN_FRONTEND=noninteractive   # never prompt (CI=true, no stdin)

log() { printf '[mediawiki_fixture] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0" >&2; exit "${1:-2}"; }
now() { printf '%s' "${EPOCHREALTIME/[.,]/}"; }             # microseconds
since() { local d=$(( $(now) - $1 )); printf '%d.%01ds' $((d / 1000000)) $((d % 1000000 / 100000)); }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null; then sudo -n "$@"
  else die "need root (or passwordless sudo) to run: $*"; fi
}

# ---------------------------------------------------------------------------------- install

missing_packages() {
  local status p
  status=$(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${PACKAGES[@]}" 2>/dev/null || true)
  for p in "${PACKAGES[@]}"; do
    grep -qx "installed $p" <<<"$status" || printf '%s\n' "$p"
  done
}

cmd_install() {
  [[ $# -eq 0 ]] || usage
  local -a missing
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then log "packages already installed"; return 0; fi

  # Serialise concurrent installs (e.g. two test sessions starting at once); apt's own lock
  # would otherwise make the second one fail.
  local lockfile=$INSTALL_LOCK lock_fd
  [[ -w ${lockfile%/*} ]] || lockfile=${TMPDIR:-/tmp}/${INSTALL_LOCK##*/}
  exec {lock_fd}>>"$lockfile"
  flock -w 900 "$lock_fd" || die "timed out waiting for another install to finish"
  mapfile -t missing < <(missing_packages)
  if [[ ${#missing[@]} -eq 0 ]]; then log "packages already installed (by a concurrent run)"; return 0; fi

  local t0 aptlog made_policy=0
  t0=$(now)
  aptlog=$(mktemp "${TMPDIR:-/tmp}/mediawiki-fixture-apt.XXXXXX")
  # `mediawiki` depends on `apache2 | httpd`: keep apt from starting Apache (we serve with php -S).
  # policy-rc.d exiting 101 means "don't start services"; only created (and removed) if absent.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    as_root sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
    made_policy=1
  fi
  log "installing: ${missing[*]} (log: $aptlog)"
  local rc=0
  {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=300 "${missing[@]}"
  } </dev/null >"$aptlog" 2>&1 || rc=$?
  [[ $made_policy -eq 1 ]] && as_root rm -f /usr/sbin/policy-rc.d
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$aptlog" >&2
    die "apt-get failed (exit $rc), full log: $aptlog"
  fi
  rm -f "$aptlog"
  log "installed in $(since "$t0")"
}

# ------------------------------------------------------------------------------- start/stop

# True while PID runs. A zombie counts as gone: the server's parent has exited, so it waits
# for PID 1 to reap it (about a second in containers), although it is already dead.
alive() {
  local state
  state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}

# The pid in DIR/php-server.pid, if that process is still our server for DIR (guards against
# PID reuse: its command line must mention DIR's router script).
server_pid() {
  local dir=$1 pid
  [[ -f $dir/php-server.pid ]] || return 1
  pid=$(<"$dir/php-server.pid")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/router.php" || return 1
  printf '%s\n' "$pid"
}

# The server runs in its own session/process group (setsid), so signalling -PID also reaches
# worker processes when --workers > 1.
stop_server() {
  local dir=$1 pid i
  pid=$(server_pid "$dir") || { rm -f "$dir/php-server.pid"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/php-server.pid"
  log "stopped php -S (pid $pid)"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

write_settings() {
  local dir=$1 port=$2
  cat >>"$dir/LocalSettings.php" <<PHP

# ---- learnloop test fixture additions (scripts/mediawiki_fixture.sh) ----
# The Action API (incl. writes) is always on since MediaWiki 1.32/1.36; \$wgEnableAPI and
# \$wgEnableWriteAPI no longer exist, so there is nothing to switch on for it.
\$wgEnableBotPasswords = true;
\$wgRCMaxAge = 10 * 365 * 24 * 3600;     # keep recent changes for 10 years (default: 90 days)
\$wgRawHtml = false;                      # no raw HTML in wikitext
\$wgShowExceptionDetails = true;          # readable errors in test failures
\$wgRateLimits = [];                      # tests may edit as fast as they like
\$wgCookiePrefix = 'learnloop_$port';     # cookies ignore ports: keep parallel wikis apart
\$wgArticlePath = '/wiki/\$1';             # short URLs, served by router.php
\$wgUsePathInfo = true;
\$wgUploadDirectory = '$dir/images';      # never write into the shared /var/lib/mediawiki
\$wgCacheDirectory = '$dir/cache';
PHP
}

write_router() {
  local dir=$1
  cat >"$dir/router.php" <<'PHP'
<?php
// Router for `php -S ... -t /usr/share/mediawiki` (generated by scripts/mediawiki_fixture.sh).
// Entry points (index.php, api.php, load.php, rest.php, also with a /PATH_INFO suffix) and
// static files are left to the built-in server; /wiki/Title short URLs go to index.php.
$path = rawurldecode( parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) ?? '/' );
if ( str_starts_with( $path, '/wiki/' ) ) {
	$_SERVER['SCRIPT_NAME'] = '/index.php';
	$_SERVER['SCRIPT_FILENAME'] = $_SERVER['DOCUMENT_ROOT'] . '/index.php';
	chdir( $_SERVER['DOCUMENT_ROOT'] );
	require $_SERVER['DOCUMENT_ROOT'] . '/index.php';
	return true;
}
return false;
PHP
}

cmd_start() {
  local port=$DEFAULT_PORT dir="" workers=1
  while [[ $# -gt 0 ]]; do
    case $1 in
      --port) port=${2:?--port needs a value}; shift 2 ;;
      --port=*) port=${1#*=}; shift ;;
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      --workers) workers=${2:?--workers needs a value}; shift 2 ;;
      --workers=*) workers=${1#*=}; shift ;;
      *) usage ;;
    esac
  done
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then die "invalid port: $port"; fi
  [[ $workers =~ ^[1-9][0-9]*$ ]] || die "invalid --workers: $workers"
  [[ $BOT_PASSWORD =~ ^[0-9a-w]{32,}$ ]] || die "BOT_PASSWORD must match ^[0-9a-w]{32,}\$"
  [[ -f $MW_IP/maintenance/install.php ]] || die "MediaWiki is not installed; run '$0 install' first"
  command -v php >/dev/null || die "php is missing; run '$0 install' first"
  command -v curl >/dev/null || die "curl is missing; run '$0 install' first"
  # Restarting in an existing fixture dir: stop its server first (it may hold this very port).
  if [[ -n $dir && -f $dir/$MARKER ]]; then stop_server "$dir"; fi
  port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"

  local t0; t0=$(now)
  if [[ -z $dir ]]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/learnloop-mediawiki.XXXXXX")
  elif [[ -e $dir ]]; then
    [[ -d $dir ]] || die "$dir exists and is not a directory"
    if [[ -f $dir/$MARKER ]]; then
      log "wiping previous fixture in $dir"
      stop_server "$dir"
      find "$dir" -mindepth 1 -delete
    elif [[ -n $(ls -A "$dir") ]]; then
      die "$dir is not empty and not a fixture dir; refusing to use it"
    fi
  fi
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)
  touch "$dir/$MARKER"
  mkdir -p "$dir/data" "$dir/images" "$dir/cache"

  local url="http://127.0.0.1:$port" cfg="$dir/LocalSettings.php"
  # Non-interactive installer: SQLite DB in DIR/data, LocalSettings.php written to DIR
  # (--confpath) instead of /etc/mediawiki. MW_CONFIG_FILE (honoured since 1.38) must not be
  # set for the installer itself, but points every later script and web request at DIR.
  (cd "$MW_IP" && env -u MW_CONFIG_FILE php maintenance/install.php --quiet \
      --dbtype=sqlite --dbpath="$dir/data" --dbname=learnlooptest \
      --server="$url" --scriptpath="" --lang=en --skins=Vector \
      --pass="$ADMIN_PASSWORD" --confpath="$dir" \
      "$WIKI_NAME" "$ADMIN_USER") </dev/null >"$dir/install.log" 2>&1 \
    || { tail -n 30 "$dir/install.log" >&2; die "install.php failed (log: $dir/install.log)"; }
  write_settings "$dir" "$port"

  (cd "$MW_IP" && MW_CONFIG_FILE=$cfg php maintenance/createBotPassword.php \
      --appid="$BOT_APPID" --grants="$BOT_GRANTS" "$ADMIN_USER" "$BOT_PASSWORD") \
      </dev/null >>"$dir/install.log" 2>&1 \
    || { tail -n 30 "$dir/install.log" >&2; die "createBotPassword.php failed (log: $dir/install.log)"; }
  write_router "$dir"
  log "wiki set up in $dir ($(since "$t0"))"

  # Own session/process group (setsid), no inherited stdin/stdout/stderr: the caller's pipes
  # (e.g. Python's subprocess capture) must not be held open by the server.
  rm -f "$dir/php-server.pid"
  local -a worker_env=()   # PHP_CLI_SERVER_WORKERS only accepts values > 1
  ((workers > 1)) && worker_env=("PHP_CLI_SERVER_WORKERS=$workers")
  # shellcheck disable=SC2016  # $1..$3 are expanded by the inner bash
  env MW_CONFIG_FILE="$cfg" "${worker_env[@]}" setsid bash -c \
      'echo $$ >"$1/php-server.pid"; exec php -S "127.0.0.1:$2" -t "$3" "$1/router.php"' \
      _ "$dir" "$port" "$MW_IP" </dev/null >"$dir/php-server.log" 2>&1 &

  # Wait for our server (not some other one on the port) to answer the siteinfo API query.
  local siteinfo="$url/api.php?action=query&meta=siteinfo&format=json"
  local deadline=$(( $(now) + START_TIMEOUT * 1000000 )) pid="" answer="" why=""
  while :; do
    # bash writes its PID, then execs php: same process, so that PID is the server's.
    [[ -z $pid && -s $dir/php-server.pid ]] && pid=$(<"$dir/php-server.pid")
    # Only ask once php has bound the port (it logs "Development Server (URL) started"), so
    # a foreign server that grabbed the port meanwhile can never be mistaken for ours.
    if [[ -n $pid ]] && grep -qF "Development Server ($url) started" "$dir/php-server.log"; then
      answer=$(curl -sS --max-time 5 -w '\n(HTTP %{http_code})' "$siteinfo" 2>&1 || true)
      [[ $answer == *'"sitename":"'"$WIKI_NAME"'"'* ]] && break
    fi
    [[ -n $pid ]] && ! alive "$pid" && why="php -S (pid $pid) exited"
    [[ -z $why && $(now) -gt $deadline ]] && why="no answer within ${START_TIMEOUT}s"
    if [[ -n $why ]]; then
      [[ -n $answer ]] && log "last answer from $siteinfo: ${answer:0:500}"
      log "last lines of the server log $dir/php-server.log:"
      # Skip the built-in server's per-connection "Accepted"/"Closing" noise.
      grep -vE '^\[[^]]*\] [0-9.:]+ (Accepted|Closing)$' "$dir/php-server.log" | tail -n 30 >&2 || true
      stop_server "$dir"
      die "MediaWiki on $url did not start: $why (wiki dir kept for debugging: $dir)"
    fi
    sleep 0.1
  done
  log "MediaWiki $WIKI_NAME up on $url (pid $pid), $(since "$t0") in total"

  printf 'MEDIAWIKI_URL=%q\n' "$url"
  printf 'MEDIAWIKI_API=%q\n' "$url/api.php"
  printf 'MEDIAWIKI_BOT_USER=%q\n' "$ADMIN_USER@$BOT_APPID"
  printf 'MEDIAWIKI_BOT_PASSWORD=%q\n' "$BOT_PASSWORD"
  printf 'MEDIAWIKI_ADMIN_USER=%q\n' "$ADMIN_USER"
  printf 'MEDIAWIKI_ADMIN_PASSWORD=%q\n' "$ADMIN_PASSWORD"
  printf 'MEDIAWIKI_DIR=%q\n' "$dir"
  printf 'MEDIAWIKI_PID=%q\n' "$pid"
}

cmd_stop() {
  local dir=${MEDIAWIKI_DIR:-}
  while [[ $# -gt 0 ]]; do
    case $1 in
      --dir) dir=${2:?--dir needs a value}; shift 2 ;;
      --dir=*) dir=${1#*=}; shift ;;
      *) usage ;;
    esac
  done
  [[ -n $dir ]] || die "stop needs --dir DIR (or MEDIAWIKI_DIR), the dir printed by start"
  if [[ ! -e $dir ]]; then log "$dir does not exist; nothing to stop"; return 0; fi
  dir=$(cd "$dir" && pwd -P)
  [[ -f $dir/$MARKER ]] || die "$dir is not a MediaWiki fixture dir (no $MARKER); not touching it"
  stop_server "$dir"
  rm -rf -- "$dir"
  log "removed $dir"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
  esac
}

main "$@"
