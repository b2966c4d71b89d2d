#!/bin/sh
# Writes the secrets compose.yaml mounts into ./secrets (run once, from the repository's folder): random passwords,
# the connection URLs that carry them, and the platform's shared keys (`platform keys init`: the key-encryption
# keyring, the masking, fingerprint and link keys, the token signing key and the bootstrap platform-admin API key),
# so every platform service reads the same keys and none makes its own. The folder is the operator's alone (0700);
# the files are readable (0444) because each container reads them as its own non-root user.
set -eu
dir=secrets
[ -e "$dir" ] && { echo "$dir exists: remove it first to make new secrets" >&2; exit 1; }
mkdir -m 700 "$dir"
password() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }
pg=$(password) nats=$(password) redis=$(password) minio_user=platform minio=$(password)
printf '%s' "$pg" > "$dir/postgres_password"
printf '%s' "$redis" > "$dir/redis_password"
printf '%s' "$minio_user" > "$dir/minio_user"
printf '%s' "$minio" > "$dir/minio_password"
printf 'authorization { user: platform, password: "%s" }\n' "$nats" > "$dir/nats_auth.conf"
printf 'postgresql://platform:%s@postgres:5432/platform' "$pg" > "$dir/read_model_url"
printf 'postgresql://platform:%s@postgres:5432/platform' "$pg" > "$dir/keys_url"
printf 'nats://platform:%s@nats:4222' "$nats" > "$dir/nats_url"
printf 'redis://:%s@redis:6379/0' "$redis" > "$dir/rate_limit_store"
printf 's3://%s:%s@datasets/platform?endpoint_override=minio:9000&scheme=http&region=us-east-1&allow_bucket_creation=true' \
  "$minio_user" "$minio" > "$dir/datasets"
# The shared keys: with the environment of the checkout this script is in (`make env`) when there is one, else with
# the image.
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$repo/.venv/bin/platform" ]; then
  "$repo/.venv/bin/platform" keys init --dir "$dir" >/dev/null
else
  docker compose build api-1
  docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/$dir:/keys" --entrypoint platform \
    governed-data-platform:latest keys init --dir /keys >/dev/null
fi
chmod 444 "$dir"/*
echo "secrets written to $dir/ (the platform-admin API key: $dir/bootstrap-admin.key)"
