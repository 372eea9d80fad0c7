#!/bin/bash
# Container Labs Redis stand-in entrypoint, after the official image's: `redis-server ...` (or
# just flags) runs as the redis user with protected mode off unless the arguments say otherwise.
set -euo pipefail
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi
if [ "$1" = "redis-server" ]; then
	case " $* " in
		*" --protected-mode "*) ;;
		*) set -- "$@" --protected-mode no ;;
	esac
	if [ "$(id -u)" = "0" ]; then
		chown -R redis:redis /data 2>/dev/null || true
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi
exec "$@"
