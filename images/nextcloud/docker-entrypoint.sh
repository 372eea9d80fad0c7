#!/bin/bash
# Container Labs Nextcloud STAND-IN entrypoint, after the official image's:
# - /var/www/html without version.php (a new volume): copy the code in, owned by www-data;
# - not installed, and NEXTCLOUD_ADMIN_USER + NEXTCLOUD_ADMIN_PASSWORD + a complete MYSQL_* group
#   given: install (retrying while the database is not ready), then add NEXTCLOUD_TRUSTED_DOMAINS
#   and, with REDIS_HOST, Redis as distributed cache and for file locking;
# - then Apache in the foreground.
set -euo pipefail
# file_env VAR: VAR, or the contents of the file VAR_FILE names (the official image's *_FILE secrets).
file_env() {
	local var="$1" file_var="${1}_FILE"
	if [ -z "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
		export "$var"="$(< "${!file_var}")"
	fi
}
for v in MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD NEXTCLOUD_ADMIN_USER NEXTCLOUD_ADMIN_PASSWORD REDIS_HOST_PASSWORD; do
	file_env "$v"
done
occ() { setpriv --reuid=www-data --regid=www-data --init-groups php /var/www/html/occ "$@"; }
if [ "$1" = "apache2-foreground" ]; then
	if [ ! -e version.php ]; then
		echo "Nextcloud stand-in not found in $PWD - copying now..." >&2
		cp -a /usr/src/nextcloud/. .
		mkdir -p config data
		chown -R www-data:www-data .
	fi
	if ! occ status --exit-code >/dev/null 2>&1; then
		if [ -n "${NEXTCLOUD_ADMIN_USER:-}" ] && [ -n "${NEXTCLOUD_ADMIN_PASSWORD:-}" ] \
			&& [ -n "${MYSQL_HOST:-}" ] && [ -n "${MYSQL_DATABASE:-}" ] && [ -n "${MYSQL_USER:-}" ] && [ -n "${MYSQL_PASSWORD:-}" ]; then
			echo "Installing the Nextcloud stand-in with the database on $MYSQL_HOST ..." >&2
			for attempt in $(seq 1 30); do
				if occ maintenance:install; then
					break
				fi
				[ "$attempt" = 30 ] && { echo "Installing failed: the database did not answer" >&2; exit 1; }
				sleep 2
			done
		else
			echo "Not installed: set NEXTCLOUD_ADMIN_USER, NEXTCLOUD_ADMIN_PASSWORD and MYSQL_HOST/DATABASE/USER/PASSWORD" >&2
		fi
	fi
	occ maintenance:update-from-env >/dev/null 2>&1 || true
	# envvars reads unset variables: not under set -u.
	set +u
	# shellcheck disable=SC1091
	source /etc/apache2/envvars
	set -u
	mkdir -p "$APACHE_RUN_DIR" "$APACHE_LOCK_DIR" "$APACHE_LOG_DIR"
	rm -f "$APACHE_PID_FILE"
	exec apache2 -DFOREGROUND
fi
exec "$@"
