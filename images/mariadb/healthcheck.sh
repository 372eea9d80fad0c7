#!/bin/bash
# Container Labs MariaDB stand-in: the official image's healthcheck.sh, for the tests compose files use:
#   --connect             the server accepts a client connection
#   --innodb_initialized  InnoDB is up
# Uses the healthcheck user the entrypoint created (/var/lib/mysql/.my-healthcheck.cnf).
set -eo pipefail
defaults=(--defaults-extra-file=/var/lib/mysql/.my-healthcheck.cnf)
[ -f /var/lib/mysql/.my-healthcheck.cnf ] || { echo "healthcheck: not initialised yet" >&2; exit 1; }
[ "$#" -gt 0 ] || set -- --connect
for test in "$@"; do
	case "$test" in
		--connect)
			mariadb "${defaults[@]}" -e 'SELECT 1' >/dev/null ;;
		--innodb_initialized)
			out=$(mariadb "${defaults[@]}" -N -e "SELECT 1 FROM information_schema.ENGINES WHERE engine='InnoDB' AND support IN ('YES','DEFAULT','ENABLED')")
			[ "$out" = "1" ] ;;
		--su-mysql|--su=*|--defaults-file=*|--no-defaults) ;;
		*) echo "healthcheck: unknown test $test" >&2; exit 1 ;;
	esac
done
