#!/bin/sh
# The compose file's minio-init service (image minio/mc): creates the staging, landing and returns
# buckets and the application's own MinIO user (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, policy
# readwrite), so Airflow never holds the MinIO root credentials. Safe to rerun.
set -eu
: "${MINIO_ROOT_USER:?set MINIO_ROOT_USER (.env)}"
: "${MINIO_ROOT_PASSWORD:?set MINIO_ROOT_PASSWORD (.env)}"
: "${AWS_ACCESS_KEY_ID:?set AWS_ACCESS_KEY_ID (.env)}"
: "${AWS_SECRET_ACCESS_KEY:?set AWS_SECRET_ACCESS_KEY (.env)}"
for name in MINIO_ROOT_USER MINIO_ROOT_PASSWORD AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
  eval "value=\${$name}"
  if [ "$value" = change-me ]; then
    echo "minio-init: replace the placeholder change-me of $name in .env" >&2
    exit 1
  fi
done

mc alias set local "${MINIO_URL:-http://minio:9000}" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
for bucket in "${BASELIB_STAGING_BUCKET:-baselib-staging}" "${BASELIB_LANDING_BUCKET:-baselib-landing}" \
              "${BASELIB_RETURNS_BUCKET:-baselib-returns}"; do
  mc mb --ignore-existing "local/$bucket"
done
# add (or update the secret of) the application's user, then give it read-write access
mc admin user add local "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >/dev/null
if mc admin policy attach local readwrite --user "$AWS_ACCESS_KEY_ID" >/dev/null 2>&1; then
  echo "minio-init: readwrite attached to the application user"
else
  # attach refuses a policy the user already has; anything else shows in the entity list
  mc admin policy entities local --user "$AWS_ACCESS_KEY_ID" | grep -q readwrite \
    || { echo "minio-init: cannot attach the readwrite policy to the application user" >&2; exit 1; }
fi
echo "minio-init: buckets ready"
