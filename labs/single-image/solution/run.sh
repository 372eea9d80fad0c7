#!/bin/sh
# Lab 2, step single-image: the course's answer - one `docker run` of the course's ready image,
# published on this machine only, restarted by Docker unless you stop it, pinned to its version.
# `cargo xtask check lab2 --up` sets SINGLE_NAME and SINGLE_PORT; by hand the defaults apply.
set -eu

name=${SINGLE_NAME:-portfolio-site}
port=${SINGLE_PORT:-8081}

docker run -d \
  --name "$name" \
  --restart unless-stopped \
  -p "127.0.0.1:$port:8080" \
  containerlabs/static-site:0.1.0
