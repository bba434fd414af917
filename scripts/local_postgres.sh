# The local PostgreSQL on 127.0.0.1, as the uploader's scripts reach it (sourced by setup.sh and run.sh).
#
# Where the `postgres` role connects over TCP without a password (trust, as on a development or CI
# machine), the scripts use it. Where it does not (a fresh Debian: peer on the socket, scram over TCP),
# setup.sh does not weaken the server's authentication: it makes a role of the uploader's own,
# `uploader` (LOGIN CREATEDB, no superuser), with a generated password kept in var/postgres-password
# (readable by its owner only), and the scripts and tests connect as that role with that password.
# tests/support/servers.py reads the same file.

PG_PORT=${PG_PORT:-5432}
PG_SOCKET_DIR=${PG_SOCKET_DIR:-/var/run/postgresql}
PG_PASSWORD_FILE=${PG_PASSWORD_FILE:-var/postgres-password}
PG_UPLOADER_ROLE=uploader

# user[:password] for a URL: the uploader's role once it has a password here, else postgres.
local_pg_credentials() {
    if [[ -s $PG_PASSWORD_FILE ]]; then
        printf '%s:%s' "$PG_UPLOADER_ROLE" "$(<"$PG_PASSWORD_FILE")"
    else
        printf postgres
    fi
}

local_pg_url() {
    printf 'postgresql://%s@127.0.0.1:%s/%s' "$(local_pg_credentials)" "$PG_PORT" "$1"
}

# Runs a client command (psql, createdb...) as the role local_pg_credentials names, over TCP.
as_local_pg_role() {
    local credentials user password
    credentials=$(local_pg_credentials)
    user=${credentials%%:*}
    password=
    [[ $credentials == *:* ]] && password=${credentials#*:}
    PGPASSWORD=$password PGUSER=$user PGHOST=127.0.0.1 PGPORT=$PG_PORT "$@"
}

pg_trusts_postgres_over_tcp() {
    PGPASSWORD= psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -w -d postgres -tAc 'select 1' >/dev/null 2>&1
}

local_pg_role_connects() {
    as_local_pg_role psql -w -d postgres -tAc 'select 1' >/dev/null 2>&1
}

# Makes (or updates) the uploader's role with the password of PG_PASSWORD_FILE, made once. It runs as the
# operating system's postgres user on the server's socket (peer authentication): nothing in the server's
# authentication changes, and the password never appears in a command line.
make_uploader_role() {
    if [[ ! -s $PG_PASSWORD_FILE ]]; then
        mkdir -p "$(dirname "$PG_PASSWORD_FILE")"
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$PG_PASSWORD_FILE")
    fi
    {
        printf '\\set role %s\n\\set password %s\n' "$PG_UPLOADER_ROLE" "$(<"$PG_PASSWORD_FILE")"
        cat <<'SQL'
SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN CREATEDB NOSUPERUSER PASSWORD :'password';
SQL
    } | runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -d postgres >/dev/null
}
