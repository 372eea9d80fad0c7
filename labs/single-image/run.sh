#!/bin/sh
# Lab 2, step single-image: one `docker run` of a ready image - the course's portfolio site,
# containerlabs/static-site:0.1.0 (`cargo xtask images` builds it here; a registry would serve it
# elsewhere). Everything the site needs is inside the image, as everything Rocket.Chat needed was.
#
# Your starter. Work through the TODOs (labs/single-image/README.md explains each one), run this
# script (sh labs/single-image/run.sh), then `cargo xtask check lab2 --step single-image`: every
# failing check names the TODO it is about. `cargo xtask check lab2 --up` runs this script in the
# grader's sandbox, with SINGLE_NAME and SINGLE_PORT set to the names the grader looks for.
set -eu

name=${SINGLE_NAME:-portfolio-site}
port=${SINGLE_PORT:-8081}

# TODO(name): give the container the name in $name (--name), so that you - and the grader - find
#   it by that name; without one, Docker makes one up.
# TODO(publish): publish the site's port 8080 (inside the container) on the host's 127.0.0.1:$port,
#   with -p HOST_IP:HOST_PORT:CONTAINER_PORT.
# TODO(restart): have Docker start it again by itself after a crash or a reboot: --restart unless-stopped.
# TODO(tag): keep the image's version tag (:0.1.0): without one, docker means :latest.
docker run -d containerlabs/static-site:0.1.0
