#!/usr/bin/env bash
# Prepare this machine to run and test the imaging uploader (Debian 12, as root).
#
#   scripts/setup.sh                   Python venv + local PostgreSQL and RabbitMQ running
#   scripts/setup.sh --with-database   ... and the database $UPLOADER_DB_NAME (default: uploader)
#   scripts/setup.sh --with-browser    ... and Debian's Chromium, which the browser tests drive
#   scripts/setup.sh --with-compose    ... and Compose (docker-compose 1.29 from Debian), which checks docker-compose.yml
#   scripts/setup.sh --with-monitoring ... and Debian's prometheus and promtool, which the monitoring test runs
#   scripts/setup.sh --with-loris      ... and a local MariaDB (Debian's), the stand-in for a LORIS site's database,
#                                      with Debian's php-cli (a test checks a password hash with PHP's own check);
#                                      with --with-database too, the LORIS database $UPLOADER_LORIS_DB_NAME
#                                      (default: loris), its MariaDB user uploader and LORIS-MRI's lorismri
#                                      (docs/loris-site.md)
#
# Idempotent and quick on a second run. It manages only the local servers on
# 127.0.0.1 (installing them with apt-get if missing). When you point
# UPLOADER_DATABASE_URL / UPLOADER_AMQP_URL at servers elsewhere, set
# UPLOADER_SKIP_SERVERS=1 to skip every server and database step.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

AMQP_PORT=5672
RABBITMQ_MANAGEMENT_PORT=15672
RABBITMQ_PROMETHEUS_PORT=15692
PG_START_TIMEOUT=60
RABBITMQ_START_TIMEOUT=90
MARIADB_START_TIMEOUT=60
VENV=.venv
STAMP="$VENV/.installed-stamp"

# shellcheck source=scripts/local_postgres.sh
source scripts/local_postgres.sh
# shellcheck source=scripts/local_mariadb.sh
source scripts/local_mariadb.sh

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

apt_updated=0
apt_install() {
    if (( ! apt_updated )); then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

tcp_port_open() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# Waits until the command succeeds, polling once a second; fails after $1 seconds.
wait_until() {
    local timeout=$1; shift
    local deadline=$(( SECONDS + timeout ))
    until "$@"; do
        (( SECONDS < deadline )) || return 1
        sleep 1
    done
}

# --- Python -----------------------------------------------------------------

find_python() {
    local candidate
    for candidate in python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

venv_works() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null
}

create_venv() {
    local python
    python=$(find_python) || { apt_install python3 python3-venv; python=$(find_python); } ||
        die "no Python 3.11 or newer found"
    rm -rf "$VENV"
    # Debian's python3 can't make a venv until python3-venv (ensurepip) is installed.
    "$python" -m venv "$VENV" 2>/dev/null || {
        rm -rf "$VENV"
        apt_install python3-venv
        "$python" -m venv "$VENV"
    }
    rm -f "$STAMP"
}

setup_python() {
    if venv_works; then
        say "python: $VENV exists ($("$VENV/bin/python" --version))"
    else
        create_venv
        say "python: created $VENV ($("$VENV/bin/python" --version))"
    fi
    if [[ pyproject.toml -nt $STAMP ]]; then
        say "python: installing the project and its test dependencies"
        "$VENV/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
        touch "$STAMP"
    else
        say "python: dependencies up to date"
    fi
}

# --- PostgreSQL -------------------------------------------------------------

pg_version() {
    find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -1 || true
}

pg_ready() {
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
}

install_postgres() {
    say "postgres: installing with apt-get"
    apt_install postgresql
}

start_postgres() {
    local version
    version=$(pg_version)
    [[ -n $version ]] || die "no PostgreSQL cluster under /etc/postgresql"
    say "postgres: starting cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_until "$PG_START_TIMEOUT" pg_ready ||
        die "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT within ${PG_START_TIMEOUT}s (see /var/log/postgresql/)"
}

# The scripts connect as postgres where it needs no password over TCP; elsewhere as a role of the
# uploader's own with a generated password (scripts/local_postgres.sh). The server's authentication
# (pg_hba.conf) is never changed.
choose_local_role() {
    if [[ ! -s $PG_PASSWORD_FILE ]] && pg_trusts_postgres_over_tcp; then
        say "postgres: role postgres connects to 127.0.0.1 without a password here; the scripts use it"
    elif local_pg_role_connects; then
        say "postgres: the scripts connect as role $PG_UPLOADER_ROLE (its password is in $PG_PASSWORD_FILE)"
    else
        say "postgres: role postgres needs a password here, and its authentication is left as it is: making a role"
        say "postgres: of the uploader's own, $PG_UPLOADER_ROLE (login, createdb), with a password generated into $PG_PASSWORD_FILE"
        make_uploader_role || die "could not make role $PG_UPLOADER_ROLE as the postgres user on $PG_SOCKET_DIR"
        wait_until 10 local_pg_role_connects ||
            die "role $PG_UPLOADER_ROLE cannot connect to 127.0.0.1:$PG_PORT with its password: pg_hba.conf must allow password (scram-sha-256 or md5) connections from 127.0.0.1, as Debian's does"
    fi
}

setup_postgres() {
    if ! command -v psql >/dev/null || ! command -v pg_ctlcluster >/dev/null; then
        install_postgres
    fi
    if pg_ready; then
        say "postgres: accepting connections on 127.0.0.1:$PG_PORT"
    else
        start_postgres
        say "postgres: started"
    fi
    choose_local_role
}

# --- RabbitMQ ---------------------------------------------------------------

rabbitmq_ready() {
    tcp_port_open "$AMQP_PORT"
}

start_rabbitmq() {
    say "rabbitmq: starting the server"
    rabbitmq-server -detached
    wait_until "$RABBITMQ_START_TIMEOUT" rabbitmq_ready ||
        die "RabbitMQ did not listen on 127.0.0.1:$AMQP_PORT within ${RABBITMQ_START_TIMEOUT}s (see /var/log/rabbitmq/)"
}

# The management API feeds the status page; the Prometheus plugin feeds the dashboards.
enable_rabbitmq_plugins() {
    if tcp_port_open "$RABBITMQ_MANAGEMENT_PORT" && tcp_port_open "$RABBITMQ_PROMETHEUS_PORT"; then
        say "rabbitmq: management and prometheus plugins listening"
        return
    fi
    say "rabbitmq: enabling the management and prometheus plugins"
    rabbitmq-plugins enable --quiet rabbitmq_management rabbitmq_prometheus >/dev/null
    wait_until 60 tcp_port_open "$RABBITMQ_MANAGEMENT_PORT" ||
        die "RabbitMQ's management API did not listen on 127.0.0.1:$RABBITMQ_MANAGEMENT_PORT within 60s"
    wait_until 60 tcp_port_open "$RABBITMQ_PROMETHEUS_PORT" ||
        die "RabbitMQ's Prometheus endpoint did not listen on 127.0.0.1:$RABBITMQ_PROMETHEUS_PORT within 60s"
}

setup_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null; then
        say "rabbitmq: installing with apt-get"
        apt_install rabbitmq-server
    fi
    # A TCP check costs milliseconds; the rabbitmq CLI tools take seconds each.
    if rabbitmq_ready; then
        say "rabbitmq: listening on 127.0.0.1:$AMQP_PORT"
    else
        start_rabbitmq
        say "rabbitmq: started"
    fi
    enable_rabbitmq_plugins
}

# --- Database ---------------------------------------------------------------

database_exists() {
    as_local_pg_role psql -w -d postgres -tA -v name="$1" \
        <<<"select 1 from pg_database where datname = :'name'" | grep -q 1
}

setup_database() {
    local name=${UPLOADER_DB_NAME:-uploader}
    if database_exists "$name"; then
        say "database: $name exists"
    else
        as_local_pg_role createdb -w "$name"
        say "database: created $name"
    fi
}

# --- MariaDB (LORIS site mode) ------------------------------------------------

# Without systemd: Debian's init script where there is one, else mariadbd-safe, detached.
start_mariadb() {
    say "mariadb: starting the server"
    if [[ -x /etc/init.d/mariadb ]]; then
        service mariadb start >/dev/null
    else
        (setsid mariadbd-safe </dev/null >/dev/null 2>&1 &)
    fi
    wait_until "$MARIADB_START_TIMEOUT" mariadb_answers ||
        die "MariaDB did not answer on 127.0.0.1:$MARIADB_PORT within ${MARIADB_START_TIMEOUT}s (see /var/log/mysql/)"
}

setup_mariadb() {
    if ! command -v mariadbd >/dev/null && ! command -v mysqld >/dev/null; then
        say "mariadb: installing mariadb-server with apt-get"
        apt_install mariadb-server
    fi
    if mariadb_answers; then
        say "mariadb: answering on 127.0.0.1:$MARIADB_PORT"
    else
        start_mariadb
        say "mariadb: started"
    fi
    make_mariadb_test_admin || die "could not make the MariaDB user $MARIADB_TEST_ADMIN (the tests' administrator)"
}

# PHP's password_verify is the check LORIS itself makes of a password hash; a test compares with it.
setup_php() {
    if command -v php >/dev/null; then
        say "php: $(php -r 'echo PHP_VERSION;') installed"
    else
        say "php: installing php-cli with apt-get"
        apt_install --no-install-recommends php-cli
    fi
}

setup_loris_database() {
    local name=${UPLOADER_LORIS_DB_NAME:-loris}
    make_loris_database "$name" || die "could not create the LORIS database $name from $LORIS_SCHEMA"
    make_loris_user "$name" || die "could not make the MariaDB user $LORIS_DB_USER for the LORIS database $name"
    make_loris_mri_user "$name" ||
        die "could not make the MariaDB user $LORIS_MRI_DB_USER (LORIS-MRI's) for the LORIS database $name"
    say "loris: database $name ready; user $LORIS_DB_USER (its password is in $LORIS_PASSWORD_FILE) may read it and write mri_upload and notification_spool"
    say "loris: LORIS-MRI's user $LORIS_MRI_DB_USER (its password is in $LORIS_MRI_PASSWORD_FILE) may also write tarchive"
}

# --- Compose ----------------------------------------------------------------

# The tests check docker-compose.yml with Compose's own parser, which needs no Docker engine:
# Compose v2 when Docker has it, else Debian's docker-compose 1.29 (without the engine it recommends).
setup_compose() {
    if docker compose version >/dev/null 2>&1; then
        say "compose: $(docker compose version --short 2>/dev/null || echo v2) (docker compose)"
    elif command -v docker-compose >/dev/null; then
        say "compose: $(docker-compose version --short 2>/dev/null || echo installed) (docker-compose)"
    else
        say "compose: installing docker-compose with apt-get"
        apt_install --no-install-recommends docker-compose
    fi
}

# --- Browser ----------------------------------------------------------------

# The browser tests drive Debian's Chromium through Playwright (from PyPI); Playwright's own browser
# download is never used.
setup_browser() {
    if [[ -x /usr/bin/chromium ]]; then
        say "browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) installed"
    else
        say "browser: installing chromium with apt-get"
        apt_install chromium
    fi
}

# --- Monitoring -------------------------------------------------------------

# The monitoring test runs Debian's prometheus itself, on a free port, and promtool; the package's own
# daemon (which would listen on 9090) is neither started nor started at boot. While apt-get runs, a
# policy-rc.d that denies every start stands in when the machine has none (invoke-rc.d and
# deb-systemd-invoke both obey it), so the install works without systemd too.
setup_monitoring() {
    if command -v prometheus >/dev/null && command -v promtool >/dev/null; then
        say "monitoring: $(prometheus --version 2>&1 | head -1)"
        return
    fi
    say "monitoring: installing prometheus with apt-get (its daemon is not started)"
    local policy=/usr/sbin/policy-rc.d added_policy=0 status=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n# setup.sh: no service starts while the prometheus package installs\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=1
    fi
    apt_install --no-install-recommends prometheus || status=$?
    if (( added_policy )); then
        rm -f "$policy"
    fi
    (( status == 0 )) || die "apt-get could not install prometheus"
    update-rc.d prometheus disable >/dev/null 2>&1 || true
    deb-systemd-helper disable prometheus.service >/dev/null 2>&1 || true
    say "monitoring: installed $(prometheus --version 2>&1 | head -1)"
}

# ----------------------------------------------------------------------------

main() {
    local with_database=0 with_browser=0 with_compose=0 with_monitoring=0 with_loris=0 arg
    for arg in "$@"; do
        case $arg in
            --with-database) with_database=1 ;;
            --with-browser) with_browser=1 ;;
            --with-compose) with_compose=1 ;;
            --with-monitoring) with_monitoring=1 ;;
            --with-loris) with_loris=1 ;;
            -h | --help) sed -n '2,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
            *) die "unknown option: $arg (try --help)" ;;
        esac
    done

    setup_python
    if (( with_browser )); then
        setup_browser
    fi
    if (( with_compose )); then
        setup_compose
    fi
    if (( with_monitoring )); then
        setup_monitoring
    fi
    if (( with_loris )); then
        setup_php
    fi
    if [[ ${UPLOADER_SKIP_SERVERS:-0} == 1 ]]; then
        say "servers: skipped (UPLOADER_SKIP_SERVERS=1)"
        return
    fi
    setup_postgres
    setup_rabbitmq
    if (( with_database )); then
        setup_database
    fi
    if (( with_loris )); then
        setup_mariadb
        if (( with_database )); then
            setup_loris_database
        fi
    fi
}

# Sourced (by a test of one step), it only defines the steps.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
