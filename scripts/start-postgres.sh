#!/usr/bin/env bash
# Starts a private PostgreSQL 15 cluster for the store's tests and prints the
# line that points them at it:
#
#   export SECOPS_TEST_POSTGRES_DSN=postgres://secops@127.0.0.1:55432/secops_test?sslmode=disable
#
# so that `eval "$(scripts/start-postgres.sh)"` sets it up. Progress goes to
# stderr. The cluster lives in its own data directory (SECOPS_PG_DIR,
# /tmp/secops-postgres by default) on its own port (SECOPS_PG_PORT, 55432)
# and listens on 127.0.0.1 only, so it does not depend on, or disturb, a
# system PostgreSQL service. Running the script again reuses the running
# cluster; on a machine without the server it installs Debian's postgresql-15
# (root only).
#
# The cluster is for tests: it runs with fsync off, so a crash of the
# machine may lose it (the next run starts a new one). It asks every
# connection for a password (SCRAM), a random one kept in the cluster's
# directory (mode 0600) and put in the DSN, so other local users cannot use
# it. `scripts/start-postgres.sh stop` stops it; scripts/test.sh stops the
# cluster it started when the tests end.
set -euo pipefail

version=15
dir="${SECOPS_PG_DIR:-/tmp/secops-postgres}"
port="${SECOPS_PG_PORT:-55432}"
role=secops
db=secops_test
data="$dir/data"
logfile="$dir/postgres.log"

log() { echo "start-postgres: $*" >&2; }
die() { log "$*"; exit 1; }

find_bin() {
	if [ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]; then
		echo "/usr/lib/postgresql/$version/bin"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		local b
		b="$(pg_config --bindir)"
		if [ -x "$b/pg_ctl" ] && "$b/postgres" --version | grep -q " $version\."; then
			echo "$b"
			return 0
		fi
	fi
	return 1
}

if ! bin="$(find_bin)"; then
	[ "$(id -u)" -eq 0 ] || die "PostgreSQL $version is not installed; install postgresql-$version (as root: apt-get install -y postgresql-$version)"
	log "installing postgresql-$version"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	# The package may create and start its own "main" cluster on port 5432;
	# it is left alone, as this script runs its own.
	apt-get install -y -qq "postgresql-$version" >&2
	bin="$(find_bin)" || die "postgresql-$version installed but pg_ctl not found"
fi

# The server refuses to run as root; as root, the cluster belongs to the
# postgres user the package creates.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "user postgres does not exist (it comes with postgresql-$version)"
	as_owner=(runuser -u postgres --)
fi
run() { "${as_owner[@]}" "$@"; }

mkdir -p "$dir"
if [ "${#as_owner[@]}" -gt 0 ]; then
	chown -R postgres: "$dir"
fi
chmod 0700 "$dir"

init_cluster() {
	log "initialising a cluster in $data"
	rm -rf "$data"
	head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$dir/password"
	cp "$dir/password" "$dir/pwfile"
	if [ "${#as_owner[@]}" -gt 0 ]; then
		chown postgres: "$dir/password" "$dir/pwfile"
	fi
	chmod 0600 "$dir/password" "$dir/pwfile"
	run "$bin/initdb" -D "$data" -U postgres --auth=scram-sha-256 --pwfile="$dir/pwfile" --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	rm -f "$dir/pwfile"
}

if [ "${1:-}" = stop ]; then
	if [ -f "$data/postmaster.pid" ]; then
		run "$bin/pg_ctl" stop -D "$data" -m fast -w >&2 && log "stopped the cluster in $data"
	fi
	exit 0
fi

start_cluster() {
	log "starting the cluster on 127.0.0.1:$port"
	local opts="-p $port -h 127.0.0.1 -k $dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB"
	run "$bin/pg_ctl" start -w -t 60 -D "$data" -l "$logfile" -o "$opts" >&2
}

# A cluster made before passwords were asked for (trust) is made anew: it
# holds only test data.
if [ ! -f "$data/PG_VERSION" ] || [ ! -s "$dir/password" ]; then
	if [ -f "$data/postmaster.pid" ]; then
		run "$bin/pg_ctl" stop -D "$data" -m fast -w >&2 || true
	fi
	init_cluster
fi
password="$(cat "$dir/password")"

# live_postmaster says whether the pid file names a running server. A
# zombie counts as dead: in a container nobody may reap a killed server, and
# kill -0 (what pg_ctl status uses) still finds it.
live_postmaster() {
	local pid state
	pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
	[ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
	state="$(sed 's/^.*) //' "/proc/$pid/stat" | cut -d' ' -f1)"
	[ "$state" != Z ] && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null
}

ready() { run "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; }
# started says whether this call started the server, so that the caller
# can stop it when done (scripts/test.sh does).
started=0

if live_postmaster; then
	# Running, perhaps still starting up or recovering: give it time.
	for _ in $(seq 60); do
		ready && break
		sleep 1
	done
	ready || die "a server runs in $data but does not answer on port $port; see $logfile"
	log "cluster already running on port $port"
else
	# A server that died with the machine or the previous session leaves
	# its pid file behind.
	rm -f "$data/postmaster.pid"
	started=1
	if ! start_cluster; then
		tail -n 20 "$logfile" >&2 || true
		# With fsync off a crash can leave the cluster unusable; it holds
		# only test data, so start over once.
		log "starting failed; recreating the cluster"
		init_cluster
		start_cluster || { tail -n 40 "$logfile" >&2 || true; die "PostgreSQL did not start"; }
	fi
fi

psql_admin() { run env PGPASSWORD="$password" "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres "$@"; }

if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
	psql_admin -c "CREATE ROLE $role LOGIN CREATEDB" >&2
fi
psql_admin -c "ALTER ROLE $role PASSWORD '$password'" >&2
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
	psql_admin -c "CREATE DATABASE $db OWNER $role" >&2
fi

dsn="postgres://$role:$password@127.0.0.1:$port/$db?sslmode=disable"
echo "export SECOPS_TEST_POSTGRES_DSN='$dsn'" >"$dir/dsn.env"
log "ready: postgres://$role:…@127.0.0.1:$port/$db (password in $dir/password)"
echo "export SECOPS_TEST_POSTGRES_DSN='$dsn'"
echo "export SECOPS_PG_STARTED=$started"
