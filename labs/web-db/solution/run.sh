#!/bin/sh
# Lab 2, web-db: the portfolio app and MariaDB as two containers on a network of their own, the
# database's data on a named volume and not published, passwords in env files.
# PROJECT and WEB_PORT name the containers and the app's port (the grader sets them under --up).
set -eu
cd "$(dirname "$0")"
P=${PROJECT:-webdb}
WEB_PORT=${WEB_PORT:-5000}

docker build -t portfolio:0.1.0 .
docker network create "$P-net"
docker volume create "$P-db-data"

docker run -d --name "$P-db" --network "$P-net" --restart unless-stopped \
  -v "$P-db-data:/var/lib/mysql" \
  --env-file db.env \
  --health-cmd 'healthcheck.sh --connect --innodb_initialized' --health-interval 2s --health-retries 60 \
  mariadb:10.11

# The app waits for the database itself (up to two minutes).
docker run -d --name "$P-web" --network "$P-net" --restart unless-stopped \
  -p "127.0.0.1:$WEB_PORT:5000" \
  --env-file web.env -e MYSQL_HOST="$P-db" \
  portfolio:0.1.0
