#!/bin/bash
# Container Labs MariaDB stand-in: the official `mariadb` image's entrypoint contract, on Debian's package.
# - Exactly one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_RANDOM_ROOT_PASSWORD,
#   MARIADB_ALLOW_EMPTY_ROOT_PASSWORD on first start; MYSQL_* spellings and *_FILE variants accepted.
# - MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD (user gets all rights on the database).
# - /docker-entrypoint-initdb.d/*.{sh,sql,sql.gz,sql.xz,sql.zst} run once, in order, against the database.
# - All of it is skipped once /var/lib/mysql/mysql exists (an initialised volume).
# - A command that starts with `-` is options for mariadbd (the temporary server gets them too).
set -euo pipefail

log() { echo "$(date -u +%FT%TZ) [Entrypoint]: $*"; }
die() { echo "$(date -u +%FT%TZ) [ERROR] [Entrypoint]: $*" >&2; exit 1; }

# file_env VAR: VAR from VAR, VAR_FILE, MYSQL_* spelling or its _FILE, in that order.
file_env() {
	local var="$1" mysql_var="MYSQL_${1#MARIADB_}" value=""
	local file_var="${var}_FILE" mysql_file_var="${mysql_var}_FILE"
	if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then die "both $var and $file_var are set; use one"; fi
	if [ -n "${!var:-}" ]; then value="${!var}"
	elif [ -n "${!file_var:-}" ]; then value="$(< "${!file_var}")"
	elif [ -n "${!mysql_var:-}" ]; then value="${!mysql_var}"
	elif [ -n "${!mysql_file_var:-}" ]; then value="$(< "${!mysql_file_var}")"
	fi
	export "$var"="$value"
	unset "$file_var" "$mysql_var" "$mysql_file_var"
}

sql_escape() { sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" <<< "$1"; }

# As the official entrypoint: a command that starts with an option is options for the server
# (`command: --transaction-isolation=READ-COMMITTED --binlog-format=ROW`).
if [ "${1:0:1}" = '-' ]; then
	set -- mariadbd "$@"
fi

if [ "${1:-}" = "mariadbd" ] || [ "${1:-}" = "mysqld" ]; then
	DATADIR=/var/lib/mysql
	SOCKET=/run/mysqld/mysqld.sock
	if [ ! -d "$DATADIR/mysql" ]; then
		for v in MARIADB_ROOT_PASSWORD MARIADB_ROOT_PASSWORD_HASH MARIADB_RANDOM_ROOT_PASSWORD MARIADB_ALLOW_EMPTY_ROOT_PASSWORD MARIADB_DATABASE MARIADB_USER MARIADB_PASSWORD; do
			file_env "$v"
		done
		options=0
		for v in MARIADB_ROOT_PASSWORD MARIADB_ROOT_PASSWORD_HASH MARIADB_RANDOM_ROOT_PASSWORD MARIADB_ALLOW_EMPTY_ROOT_PASSWORD; do
			[ -n "${!v}" ] && options=$((options + 1))
		done
		if [ "$options" -ne 1 ]; then
			die "Database is uninitialized and the root password option is not specified: set exactly one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_RANDOM_ROOT_PASSWORD or MARIADB_ALLOW_EMPTY_ROOT_PASSWORD"
		fi
		if [ -n "$MARIADB_USER" ] && [ "$MARIADB_USER" = "root" ]; then
			die "MARIADB_USER=root is not allowed: root is made from the MARIADB_ROOT_* options"
		fi
		log "Initializing database files"
		mariadb-install-db --user=mysql --datadir="$DATADIR" --auth-root-authentication-method=normal --skip-test-db >/dev/null
		log "Starting a temporary server"
		mariadbd "${@:2}" --user=mysql --datadir="$DATADIR" --skip-networking --socket="$SOCKET" &
		pid=$!
		for _ in $(seq 1 60); do
			mariadb --protocol=socket --socket="$SOCKET" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
			sleep 0.5
		done
		run_sql() { mariadb --protocol=socket --socket="$SOCKET" -uroot --binary-mode "$@"; }
		if [ -n "$MARIADB_RANDOM_ROOT_PASSWORD" ]; then
			MARIADB_ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
			log "GENERATED ROOT PASSWORD: $MARIADB_ROOT_PASSWORD"
		fi
		if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
			root_auth="IDENTIFIED BY PASSWORD '$(sql_escape "$MARIADB_ROOT_PASSWORD_HASH")'"
		else
			root_auth="IDENTIFIED BY '$(sql_escape "$MARIADB_ROOT_PASSWORD")'"
		fi
		healthcheck_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
		# As the official entrypoint: root, the database and the user first, then the initdb scripts
		# (so a script may log in as root with MARIADB_ROOT_PASSWORD, or as the user).
		{
			echo "SET @@SESSION.SQL_LOG_BIN=0;"
			echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$healthcheck_password';"
			echo "GRANT USAGE ON *.* TO 'healthcheck'@'localhost';"
			if [ -n "$MARIADB_DATABASE" ]; then
				echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
			fi
			if [ -n "$MARIADB_USER" ]; then
				echo "CREATE USER '$(sql_escape "$MARIADB_USER")'@'%' IDENTIFIED BY '$(sql_escape "$MARIADB_PASSWORD")';"
				if [ -n "$MARIADB_DATABASE" ]; then
					echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$(sql_escape "$MARIADB_USER")'@'%';"
				fi
			fi
			# mariadb-install-db also makes password-less root accounts for 127.0.0.1, ::1 and the host name.
			echo "DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';"
			echo "EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@\\'', @@hostname, '\\'');"
			echo "ALTER USER 'root'@'localhost' $root_auth;"
			echo "CREATE USER 'root'@'%' $root_auth;"
			echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
			echo "FLUSH PRIVILEGES;"
		} | run_sql
		printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\nprotocol=socket\n' "$SOCKET" "$healthcheck_password" > "$DATADIR/.my-healthcheck.cnf"
		chown mysql:mysql "$DATADIR/.my-healthcheck.cnf"
		chmod 0600 "$DATADIR/.my-healthcheck.cnf"
		# From here on root logs in with its password (only a hash given: the scripts' .sql files run
		# as the healthcheck user cannot, so a hash-only root runs them through a one-off admin login).
		passfile="$(mktemp)"
		if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
			init_password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
			echo "CREATE USER 'clabs_init'@'localhost' IDENTIFIED BY '$init_password'; GRANT ALL ON *.* TO 'clabs_init'@'localhost' WITH GRANT OPTION;" | run_sql
			printf '[client]\nuser=clabs_init\npassword=%s\n' "$init_password" > "$passfile"
		else
			printf '[client]\nuser=root\npassword=%s\n' "$MARIADB_ROOT_PASSWORD" > "$passfile"
		fi
		run_sql() { mariadb --defaults-extra-file="$passfile" --protocol=socket --socket="$SOCKET" --binary-mode "$@"; }
		db_args=()
		[ -n "$MARIADB_DATABASE" ] && db_args=(--database="$MARIADB_DATABASE")
		for f in /docker-entrypoint-initdb.d/*; do
			[ -e "$f" ] || continue
			case "$f" in
				*.sh) log "running $f"; . "$f" ;;
				*.sql) log "running $f"; run_sql "${db_args[@]}" < "$f" ;;
				*.sql.gz) log "running $f"; gunzip -c "$f" | run_sql "${db_args[@]}" ;;
				*.sql.xz) log "running $f"; xzcat "$f" | run_sql "${db_args[@]}" ;;
				*.sql.zst) log "running $f"; zstd -dc "$f" | run_sql "${db_args[@]}" ;;
				*) log "ignoring $f" ;;
			esac
		done
		if [ -n "$MARIADB_ROOT_PASSWORD_HASH" ]; then
			echo "DROP USER 'clabs_init'@'localhost';" | run_sql
		fi
		rm -f "$passfile"
		kill "$pid"
		wait "$pid" || true
		log "MariaDB init process done. Ready for start up."
	fi
	if [ "$(id -u)" = "0" ]; then
		set -- "$@" --user=mysql
	fi
fi
exec "$@"
