#!/bin/sh
# Create the S3 lake in MinIO: the bucket, and an access key that may use that bucket only.
# Run by the one-shot service "lake-bucket" (docker-compose.yml) in the MinIO client image, on
# every `docker compose up`: each step is idempotent. Credentials come from .env:
#   MINIO_ROOT_USER, MINIO_ROOT_PASSWORD   the MinIO administrator
#   LAKE_BUCKET                            the bucket the exporter writes to
#   LAKE_ACCESS_KEY, LAKE_SECRET_KEY       the exporter's key (and yours, to query the lake)
set -eu

: "${MINIO_URL:=http://minio:9000}"
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${LAKE_BUCKET:?}" "${LAKE_ACCESS_KEY:?}" "${LAKE_SECRET_KEY:?}"
# A secret left at its .env.example placeholder is known to anyone who has read the repository.
for name in MINIO_ROOT_PASSWORD LAKE_SECRET_KEY; do
    eval "value=\${$name}"
    case $value in
        [Cc][Hh][Aa][Nn][Gg][Ee]-[Mm][Ee]*)
            echo "lake-bucket: still the placeholder from .env.example: $name; set a real secret in .env, e.g. from" \
                "\`openssl rand -hex 16\` (./start.sh writes fresh ones into a new .env)" >&2
            exit 1 ;;
    esac
done
policy_name=deliverer-lake-readwrite
policy_file=/tmp/$policy_name.json

mc alias set lake "$MINIO_URL" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "lake/$LAKE_BUCKET"

cat >"$policy_file" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:*"],
      "Resource": ["arn:aws:s3:::$LAKE_BUCKET", "arn:aws:s3:::$LAKE_BUCKET/*"]
    }
  ]
}
EOF
mc admin policy create lake "$policy_name" "$policy_file"
mc admin user add lake "$LAKE_ACCESS_KEY" "$LAKE_SECRET_KEY"
# "attach" refuses a policy that is already attached (a second `up`), so detach it first.
mc admin policy detach lake "$policy_name" --user "$LAKE_ACCESS_KEY" >/dev/null 2>&1 || true
mc admin policy attach lake "$policy_name" --user "$LAKE_ACCESS_KEY"
echo "lake-bucket: s3://$LAKE_BUCKET is ready for $LAKE_ACCESS_KEY"
