#!/bin/sh
# Lab 2, web-db: the portfolio app and MariaDB as two containers. Fill in each TODO (the handout
# explains them). Run it from anywhere: sh labs/web-db/run.sh
# PROJECT and WEB_PORT name the containers and the app's port (the grader sets them under --up).
set -eu
cd "$(dirname "$0")"
P=${PROJECT:-webdb}
WEB_PORT=${WEB_PORT:-5000}

docker build -t portfolio:0.1.0 .

# TODO(network): create a network of your own for the two containers and put both on it (on the
#   default bridge they find each other only through the old --link).
# TODO(volume): create a named volume for the database's data and mount it at /var/lib/mysql.
# TODO(health): give the database a healthcheck (the image has healthcheck.sh).

# TODO(secrets): the passwords are on the command line, where `ps` and the shell's history show
#   them: put them in an env file (--env-file db.env).
# TODO(unpublish): the database needs no port on this machine; only the app talks to it.
docker run -d --name "$P-db" \
  -p 127.0.0.1:3306:3306 \
  -e MARIADB_ROOT_PASSWORD=root-pass -e MARIADB_DATABASE=portfolio \
  -e MARIADB_USER=portfolio -e MARIADB_PASSWORD=portfolio-pass \
  mariadb:10.11

# TODO(publish): publish the app's port 5000 on this machine's 127.0.0.1:$WEB_PORT: until then
#   nothing outside its container reaches the app - not your browser, not the grader.
docker run -d --name "$P-web" --link "$P-db" \
  -e MYSQL_HOST="$P-db" -e MYSQL_USER=portfolio -e MYSQL_DATABASE=portfolio \
  portfolio:0.1.0
