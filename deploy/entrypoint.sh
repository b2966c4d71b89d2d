#!/bin/sh
# The image's entry: every secret mounted as /run/secrets/PLATFORM_<NAME> becomes the setting PLATFORM_<NAME>, so
# credentials (database, NATS, Redis and S3 URLs) arrive as files and never sit in compose's environment; then the
# command runs as PID 1, receiving the stop signal itself. SECRETS_DIR moves the folder (tests).
set -eu
for file in "${SECRETS_DIR:-/run/secrets}"/PLATFORM_*; do
  [ -f "$file" ] || continue
  name=$(basename "$file")
  value=$(cat "$file")
  export "$name=$value"
done
exec "$@"
