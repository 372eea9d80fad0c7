#!/bin/bash
# Container Labs nginx STAND-IN entrypoint, after the official image's: when the command is nginx,
# render /etc/nginx/templates/*.template into /etc/nginx/conf.d/ (envsubst of the variables this
# container defines only, as the official 20-envsubst-on-templates.sh does), run the scripts in
# /docker-entrypoint.d/, then exec the command.
set -eu
if [ "${1:-}" = "nginx" ] || [ "${1:-}" = "nginx-debug" ]; then
	template_dir="${NGINX_ENVSUBST_TEMPLATE_DIR:-/etc/nginx/templates}"
	suffix="${NGINX_ENVSUBST_TEMPLATE_SUFFIX:-.template}"
	output_dir="${NGINX_ENVSUBST_OUTPUT_DIR:-/etc/nginx/conf.d}"
	if [ -d "$template_dir" ]; then
		defined_envs=$(printf '${%s} ' $(awk "END { for (name in ENVIRON) { print ( name ~ /${NGINX_ENVSUBST_FILTER:-}/ ) ? name : \"\" } }" < /dev/null))
		find "$template_dir" -follow -type f -name "*$suffix" -print | while read -r template; do
			relative="${template#"$template_dir/"}"
			output="$output_dir/${relative%"$suffix"}"
			mkdir -p "$(dirname "$output")"
			echo "$0: running envsubst on $template to $output" >&2
			envsubst "$defined_envs" < "$template" > "$output"
		done
	fi
	for script in /docker-entrypoint.d/*.sh; do
		[ -x "$script" ] && "$script"
	done
fi
exec "$@"
