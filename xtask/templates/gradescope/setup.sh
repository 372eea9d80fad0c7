#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu, with the
# internet). It installs what grading {{lab}} needs without a Docker engine - Rust, and nginx for
# lab 1's site - and builds the grader and the course's programs now, not at grading time.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
# The package must not start nginx: the grader starts its own, on the lab's port, per submission.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get update -qq
apt-get install -y -qq curl ca-certificates build-essential pkg-config nginx-light >/dev/null
rm -f /usr/sbin/policy-rc.d
curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
. "$HOME/.cargo/env"
cd /autograder/source/grader
cargo build --quiet -p xtask -p static-site -p app-port --bins
