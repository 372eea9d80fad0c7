#!/bin/bash
# Container Labs WordPress stand-in entrypoint, after the official image's:
# - /var/www/html empty (a new volume): copy WordPress in, owned by www-data;
# - no wp-config.php: use wp-config-docker.php, which reads WORDPRESS_DB_HOST, _USER, _PASSWORD,
#   _NAME, WORDPRESS_TABLE_PREFIX, WORDPRESS_DEBUG, WORDPRESS_CONFIG_EXTRA (and *_FILE) at run time,
#   with fresh random keys and salts;
# - then Apache in the foreground.
set -euo pipefail
if [ "$1" = "apache2-foreground" ]; then
	if [ ! -e index.php ] && [ ! -e wp-includes/version.php ]; then
		echo "WordPress not found in $PWD - copying now..." >&2
		cp -a /usr/src/wordpress/. .
		chown -R www-data:www-data .
	fi
	if [ ! -s wp-config.php ] && [ -n "$(printenv | grep '^WORDPRESS_' || true)" ]; then
		awk '
			/put your unique phrase here/ {
				cmd = "head -c1m /dev/urandom | sha1sum | cut -d\\  -f1"
				cmd | getline str
				close(cmd)
				gsub("put your unique phrase here", str)
			}
			{ print }
		' wp-config-docker.php > wp-config.php
		chown www-data:www-data wp-config.php
	fi
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
