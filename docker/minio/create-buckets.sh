#!/bin/sh
# The compose file's minio-init service (image minio/mc): creates the staging, landing and returns
# buckets and the application's own MinIO user (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, policy
# readwrite), so Airflow never holds the MinIO root credentials. Safe to rerun.
# No secret is on a command line (visible to `ps` and /proc/<pid>/cmdline): mc reads the root
# credentials from the MC_HOST_local variable and the application user's secret key from its stdin
# (`mc admin user add ALIAS ACCESSKEY` reads the secret key from a non-terminal stdin); export and
# printf are shell built-ins.
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
# mc splits MC_HOST_<alias> at ':' and '@' without decoding: such characters would corrupt it
for name in MINIO_ROOT_USER MINIO_ROOT_PASSWORD; do
  eval "value=\${$name}"
  case "$value" in
    *[:@/]*) echo "minio-init: $name must not contain ':', '@' or '/' (.env)" >&2; exit 1 ;;
  esac
done
case "$AWS_SECRET_ACCESS_KEY" in
  *"
"*) echo "minio-init: AWS_SECRET_ACCESS_KEY must be one line (.env)" >&2; exit 1 ;;
esac

minio_url="${MINIO_URL:-http://minio:9000}"
export MC_HOST_local="${minio_url%%://*}://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@${minio_url#*://}"
for bucket in "${BASELIB_STAGING_BUCKET:-baselib-staging}" "${BASELIB_LANDING_BUCKET:-baselib-landing}" \
              "${BASELIB_RETURNS_BUCKET:-baselib-returns}"; do
  mc mb --ignore-existing "local/$bucket"
done
# add (or update the secret of) the application's user, then give it read-write access
printf '%s\n' "$AWS_SECRET_ACCESS_KEY" | mc admin user add local "$AWS_ACCESS_KEY_ID" >/dev/null
if mc admin policy attach local readwrite --user "$AWS_ACCESS_KEY_ID" >/dev/null 2>&1; then
  echo "minio-init: readwrite attached to the application user"
else
  # attach refuses a policy the user already has; anything else shows in the entity list
  mc admin policy entities local --user "$AWS_ACCESS_KEY_ID" | grep -q readwrite \
    || { echo "minio-init: cannot attach the readwrite policy to the application user" >&2; exit 1; }
fi
echo "minio-init: buckets ready"
