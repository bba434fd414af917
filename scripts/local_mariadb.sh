# The local MariaDB on 127.0.0.1, which stands in for a LORIS site's database (sourced by setup.sh).
#
# The scripts administer it as root: over TCP where root needs no password there (a development or CI
# machine, and what the tests use), else on the server's socket as the operating system's root (a fresh
# Debian: unix_socket authentication). The uploader connects as a user of its own, `uploader`, with a
# generated password kept in var/loris-password (readable by its owner only), granted only what the
# uploader needs in the LORIS database: see docs/loris-site.md.

MARIADB_PORT=${MARIADB_PORT:-3306}
LORIS_PASSWORD_FILE=${LORIS_PASSWORD_FILE:-var/loris-password}
LORIS_DB_USER=${LORIS_DB_USER:-uploader}
LORIS_SCHEMA=${LORIS_SCHEMA:-loris_standin/schema.sql}
# LORIS-MRI's own user, as the reference pipeline's LORIS site mode connects (UPLOADER_LORIS_MRI_DATABASE_URL): it
# writes what imaging_upload_file.pl writes, a tarchive row included, which the uploader's user may not.
LORIS_MRI_DB_USER=${LORIS_MRI_DB_USER:-lorismri}
LORIS_MRI_PASSWORD_FILE=${LORIS_MRI_PASSWORD_FILE:-var/loris-mri-password}
# The tests' administrator of the local MariaDB (they make and drop a LORIS database per run): a user of its own
# with a generated password, since root may connect only on the socket (Debian's unix_socket authentication). One
# per checkout, named after its folder, so that two checkouts on one machine never change each other's password;
# its name is kept in var/mariadb-admin-user for the tests.
MARIADB_TEST_ADMIN=${MARIADB_TEST_ADMIN:-uploader_admin_$(printf '%s' "$PWD" | sha256sum | cut -c1-10)}
MARIADB_TEST_ADMIN_USER_FILE=${MARIADB_TEST_ADMIN_USER_FILE:-var/mariadb-admin-user}
MARIADB_TEST_ADMIN_PASSWORD_FILE=${MARIADB_TEST_ADMIN_PASSWORD_FILE:-var/mariadb-admin-password}

# What the uploader reads in a LORIS database, and what it writes.
LORIS_READ_TABLES=(psc Project candidate session users permissions user_perm_rel user_psc_rel user_project_rel
                   ConfigSettings Config tarchive notification_types)
LORIS_WRITE_TABLES=(mri_upload notification_spool)
# What LORIS-MRI's user is granted, table by table.
LORIS_MRI_GRANTS=("SELECT, UPDATE:mri_upload" "SELECT, INSERT:notification_spool" "SELECT:notification_types"
                  "SELECT, INSERT:tarchive")

mariadb_answers() {
    mariadb-admin --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" --connect-timeout=2 ping >/dev/null 2>&1
}

mariadb_root_over_tcp() {
    mariadb --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u root -e 'SELECT 1' >/dev/null 2>&1
}

# Runs the mariadb client as the server's administrator (root), with the arguments given.
as_mariadb_admin() {
    if mariadb_root_over_tcp; then
        mariadb --protocol=tcp -h 127.0.0.1 -P "$MARIADB_PORT" -u root "$@"
    else
        mariadb --protocol=socket -u root "$@"
    fi
}

# The uploader's URL for the LORIS database $1 (UPLOADER_LORIS_DATABASE_URL), once setup.sh made its user.
# The password is hexadecimal: nothing in it needs encoding in a URL.
local_loris_url() {
    printf 'mysql://%s:%s@127.0.0.1:%s/%s' "$LORIS_DB_USER" "$(<"$LORIS_PASSWORD_FILE")" "$MARIADB_PORT" "$1"
}

# LORIS-MRI's URL for the LORIS database $1 (UPLOADER_LORIS_MRI_DATABASE_URL), once setup.sh made its user.
local_loris_mri_url() {
    printf 'mysql://%s:%s@127.0.0.1:%s/%s' "$LORIS_MRI_DB_USER" "$(<"$LORIS_MRI_PASSWORD_FILE")" "$MARIADB_PORT" "$1"
}

# The tests' administrator's URL for the database $1: what loads the demo project (python -m loris_standin.demo).
local_mariadb_admin_url() {
    printf 'mysql://%s:%s@127.0.0.1:%s/%s' "$(<"$MARIADB_TEST_ADMIN_USER_FILE")" \
        "$(<"$MARIADB_TEST_ADMIN_PASSWORD_FILE")" "$MARIADB_PORT" "$1"
}

# Makes a password file $1 once, readable by its owner only: 48 hexadecimal digits, nothing to encode in a URL.
make_password_file() {
    if [[ ! -s $1 ]]; then
        mkdir -p "$(dirname "$1")"
        (umask 077 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$1")
    fi
}

# Makes (or updates) the tests' administrator, who may do anything on this local server, for 127.0.0.1.
make_mariadb_test_admin() {
    local host
    make_password_file "$MARIADB_TEST_ADMIN_PASSWORD_FILE"
    printf '%s\n' "$MARIADB_TEST_ADMIN" >"$MARIADB_TEST_ADMIN_USER_FILE"
    {
        for host in 127.0.0.1 localhost; do
            printf "CREATE USER IF NOT EXISTS '%s'@'%s';\n" "$MARIADB_TEST_ADMIN" "$host"
            printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$MARIADB_TEST_ADMIN" "$host" \
                "$(<"$MARIADB_TEST_ADMIN_PASSWORD_FILE")"
            printf "GRANT ALL PRIVILEGES ON *.* TO '%s'@'%s' WITH GRANT OPTION;\n" "$MARIADB_TEST_ADMIN" "$host"
        done
    } | as_mariadb_admin
}

# Creates the LORIS database $1 if missing and loads the stand-in LORIS tables into it (idempotent).
make_loris_database() {
    local name=$1
    [[ $name =~ ^[A-Za-z0-9_]+$ ]] || { echo "the LORIS database name must be letters, digits and _: $name" >&2; return 1; }
    as_mariadb_admin -e "CREATE DATABASE IF NOT EXISTS \`$name\` CHARACTER SET utf8mb4" &&
        as_mariadb_admin "$name" <"$LORIS_SCHEMA"
}

# Makes (or updates) the uploader's MariaDB user with the password of LORIS_PASSWORD_FILE, made once, and
# grants it what it needs in the LORIS database $1, for connections from 127.0.0.1 (named either way: by
# address, or as localhost where the server resolves names). The password never appears in a command line.
make_loris_user() {
    local name=$1 host table
    make_password_file "$LORIS_PASSWORD_FILE"
    {
        for host in 127.0.0.1 localhost; do
            printf "CREATE USER IF NOT EXISTS '%s'@'%s';\n" "$LORIS_DB_USER" "$host"
            printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$LORIS_DB_USER" "$host" "$(<"$LORIS_PASSWORD_FILE")"
            for table in "${LORIS_READ_TABLES[@]}"; do
                printf "GRANT SELECT ON \`%s\`.\`%s\` TO '%s'@'%s';\n" "$name" "$table" "$LORIS_DB_USER" "$host"
            done
            for table in "${LORIS_WRITE_TABLES[@]}"; do
                printf "GRANT SELECT, INSERT, UPDATE ON \`%s\`.\`%s\` TO '%s'@'%s';\n" \
                    "$name" "$table" "$LORIS_DB_USER" "$host"
            done
        done
    } | as_mariadb_admin
}

# Makes (or updates) LORIS-MRI's MariaDB user with the password of LORIS_MRI_PASSWORD_FILE, made once, granted in
# the LORIS database $1 what imaging_upload_file.pl writes there (LORIS_MRI_GRANTS), for connections from 127.0.0.1.
make_loris_mri_user() {
    local name=$1 host grant
    make_password_file "$LORIS_MRI_PASSWORD_FILE"
    {
        for host in 127.0.0.1 localhost; do
            printf "CREATE USER IF NOT EXISTS '%s'@'%s';\n" "$LORIS_MRI_DB_USER" "$host"
            printf "ALTER USER '%s'@'%s' IDENTIFIED BY '%s';\n" "$LORIS_MRI_DB_USER" "$host" \
                "$(<"$LORIS_MRI_PASSWORD_FILE")"
            for grant in "${LORIS_MRI_GRANTS[@]}"; do
                printf "GRANT %s ON \`%s\`.\`%s\` TO '%s'@'%s';\n" "${grant%%:*}" "$name" "${grant#*:}" \
                    "$LORIS_MRI_DB_USER" "$host"
            done
        done
    } | as_mariadb_admin
}
