#!/bin/bash
# Container Labs Memcached stand-in entrypoint, after the official image's: flags alone run memcached.
set -euo pipefail
if [ "${1#-}" != "$1" ]; then
	set -- memcached "$@"
fi
exec "$@"
