#!/usr/bin/env bash
# Build the local base images that user apps are built FROM, entirely from
# Debian packages (no registry pulls):
#
#   ${BASE_IMAGE_PREFIX:-m3o-base}/debian:bookworm   debootstrap minbase rootfs
#   ${BASE_IMAGE_PREFIX:-m3o-base}/python:bookworm   python3 + venv at /opt/venv
#   ${BASE_IMAGE_PREFIX:-m3o-base}/node:bookworm     nodejs + npm
#   ${BASE_IMAGE_PREFIX:-m3o-base}/go:bookworm       golang-go + git
#   ${BASE_IMAGE_PREFIX:-m3o-base}/static:bookworm   busybox httpd (serve-static)
#
# Every image but debian has the user `app` (uid 10001, home /home/app) and
# WORKDIR /app owned by it; the images stay USER root so derived Dockerfiles
# can install things first and then switch with `USER app`.
#
# Environment:
#   BASE_IMAGE_PREFIX  image name prefix (default m3o-base)
#   BUILD_CA_BUNDLE    optional PEM file every image should trust (e.g. the CA
#                      of a TLS-intercepting proxy); must exist when set
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR   override the Debian mirrors
#
# An image is skipped when it exists and its labels match this script's
# version and the CA bundle (and, for derived images, the current debian
# image); otherwise it is rebuilt together with everything built on it.
# Needs root only when the debian image has to be (re)built (debootstrap).
#
# Other Debian suites carry other language versions (trixie: Python 3.13,
# sid: 3.14); the platform builds those on first need with --suite and --only
# (deployments/base_images.py), and an operator can build them ahead of time.
#
# Usage: scripts/build-base-images.sh [--force] [--verbose] [--suite SUITE] [--only NAME]
set -euo pipefail

# Bump when the image contents defined here change, to rebuild everywhere.
readonly BASE_VERSION=1
SUITE=bookworm
readonly APP_UID=10001

PREFIX=${BASE_IMAGE_PREFIX:-m3o-base}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
DERIVED=(python node go static)
readonly CA_FILE=/etc/ssl/certs/ca-certificates.crt
readonly LABEL_VERSION=org.m3o.base-version
readonly LABEL_CA=org.m3o.base-ca-sha256
readonly LABEL_PARENT=org.m3o.base-parent

force=0
verbose=0
only=""
while [ $# -gt 0 ]; do
  case $1 in
    --force) force=1 ;;
    -v|--verbose) verbose=1 ;;
    --suite) SUITE=${2:-}; shift ;;
    --only) only=${2:-}; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) echo "build-base-images: unknown argument: $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done
case $SUITE in
  bookworm|trixie|sid) ;;
  *) echo "build-base-images: unknown suite: $SUITE (bookworm, trixie or sid)" >&2; exit 2 ;;
esac
readonly SUITE
if [ -n "$only" ]; then
  case " ${DERIVED[*]} " in
    *" $only "*) DERIVED=("$only") ;;
    *) echo "build-base-images: unknown image: $only (${DERIVED[*]})" >&2; exit 2 ;;
  esac
fi
DEBIAN_IMAGE="$PREFIX/debian:$SUITE"

die() { echo "build-base-images: $*" >&2; exit 1; }

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (start it with scripts/start-services.sh)"

ca_bundle=${BUILD_CA_BUNDLE:-}
ca_sha=none
if [ -n "$ca_bundle" ]; then
  if [ ! -f "$ca_bundle" ] || [ ! -r "$ca_bundle" ]; then
    die "BUILD_CA_BUNDLE=$ca_bundle does not exist or is not a readable file"
  fi
  grep -q -- '-----BEGIN CERTIFICATE-----' "$ca_bundle" ||
    die "BUILD_CA_BUNDLE=$ca_bundle contains no PEM certificate"
  ca_sha=$(sha256sum < "$ca_bundle")
  ca_sha=${ca_sha%% *}
fi

# One build at a time on this machine (the lock is on this script file); a
# second run waits, then finds the images present.
exec 9<"$0"
if ! flock -n 9; then
  echo "waiting for another build-base-images run to finish"
  flock 9
fi

work=""
cleanup() {
  local mnt
  if [ -n "$work" ] && [ -d "$work" ]; then
    # debootstrap mounts proc/sys inside the target and unmounts them itself;
    # if it was killed they may still be there: never delete across a mount.
    while read -r mnt; do
      umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
work=$(mktemp -d /var/tmp/m3o-base-images.XXXXXX)

image_id() {  # image_id REF: the image's ID, or nothing
  docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true
}

is_present() {  # is_present REF [PARENT_ID]
  local want got
  want="$BASE_VERSION|$ca_sha|${2:-}"
  got=$(docker image inspect --format \
    "{{index .Config.Labels \"$LABEL_VERSION\"}}|{{index .Config.Labels \"$LABEL_CA\"}}|{{index .Config.Labels \"$LABEL_PARENT\"}}" \
    "$1" 2>/dev/null) || return 1
  [ "$got" = "$want" ]
}

# Run a step with its output in a log file (shown on failure), or streamed
# with --verbose.
run_logged() {  # run_logged LOG COMMAND...
  local log=$1; shift
  if [ "$verbose" = 1 ]; then
    "$@" 2>&1 | tee -a "$log" || return 1
    return 0
  fi
  if ! "$@" >>"$log" 2>&1; then
    echo "FAILED" >&2
    echo "---- last lines of the log ----" >&2
    tail -n 60 "$log" >&2
    return 1
  fi
}

started() {  # started TAG
  step_start=$SECONDS
  if [ "$verbose" = 1 ]; then echo "$1: building ..."; else printf '%s: building ... ' "$1"; fi
}
finished() {  # finished TAG
  if [ "$verbose" = 1 ]; then printf '%s: ' "$1"; fi
  echo "done ($((SECONDS - step_start))s)"
}

# Build containers need deb.debian.org. Use the default bridge network when it
# gets there, the host network otherwise.
build_network=""
choose_network() {  # choose_network IMAGE
  [ -n "$build_network" ] && return 0
  local host port=80 probe
  host=${MIRROR#*://}
  host=${host%%/*}
  case $host in *:*) port=${host##*:}; host=${host%:*} ;; esac
  probe=(timeout 15 bash -c "exec 3<>/dev/tcp/$host/$port")
  if docker run --rm --network bridge "$1" "${probe[@]}" >/dev/null 2>&1; then
    build_network=default
  elif docker run --rm --network host "$1" "${probe[@]}" >/dev/null 2>&1; then
    build_network=host
    echo "note: build containers cannot reach $host on the bridge network; building with --network host"
  else
    die "build containers cannot reach $host (neither bridge nor host network): check dockerd's NAT/iptables and DNS"
  fi
}

docker_build() {  # docker_build TAG CONTEXT_DIR LOG [extra docker build args...]
  local tag=$1 ctx=$2 log=$3; shift 3
  run_logged "$log" docker build --force-rm --network "$build_network" \
    --label "$LABEL_VERSION=$BASE_VERSION" --label "$LABEL_CA=$ca_sha" \
    -t "$tag" "$@" "$ctx"
}

stale_ids=()  # replaced images, removed at the end if nothing uses them

# ---------------------------------------------------------------- debian ---
ca_lines() {  # Dockerfile lines that make the image trust BUILD_CA_BUNDLE
  if [ -n "$ca_bundle" ]; then
    printf '%s\n' 'COPY m3o-build-ca.crt /usr/local/share/ca-certificates/m3o-build-ca.crt' \
      'RUN chmod 644 /usr/local/share/ca-certificates/m3o-build-ca.crt && update-ca-certificates'
  fi
}

import_rootfs() {  # import_rootfs DIR TAG
  tar --numeric-owner -C "$1" -c . | docker import - "$2"
}

build_debian() {
  local rootfs=$work/rootfs ctx=$work/debian log=$work/debian.log
  [ "$(id -u)" = 0 ] || die "building $DEBIAN_IMAGE needs root (debootstrap)"
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed"
  started "$DEBIAN_IMAGE"
  mkdir -p "$rootfs" "$ctx"
  run_logged "$log" debootstrap --variant=minbase --include=ca-certificates \
    "$SUITE" "$rootfs" "$MIRROR"

  # Host files debootstrap copies in; Docker provides its own at run time.
  rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  if [ "$SUITE" = sid ]; then  # unstable has no updates or security suites
    echo "deb $MIRROR $SUITE main" >"$rootfs/etc/apt/sources.list"
  else
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
  fi
  # Container-friendly apt/dpkg settings, as in Debian's official images.
  cat >"$rootfs/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  # Apply the same slimming to what debootstrap installed.
  if [ -d "$rootfs/usr/share/doc" ]; then
    find "$rootfs/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
  fi
  if [ -d "$rootfs/usr/share/locale" ]; then
    find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  fi
  rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/groff/* \
    "$rootfs"/usr/share/lintian/*
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/log/*.log "$rootfs"/var/log/apt/*
  rm -rf "${rootfs:?}"/tmp/* "$rootfs"/var/tmp/*

  # Import the bare rootfs under the final tag, then finish it with a normal
  # build on top (labels are only set by that build, so an interrupted run
  # leaves an image that is rebuilt next time).
  run_logged "$log" import_rootfs "$rootfs" "$DEBIAN_IMAGE"
  rm -rf --one-file-system "$rootfs"
  choose_network "$DEBIAN_IMAGE"

  [ -z "$ca_bundle" ] || cp "$ca_bundle" "$ctx/m3o-build-ca.crt"
  {
    cat <<EOF
FROM $DEBIAN_IMAGE
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 \\
    SSL_CERT_FILE=$CA_FILE \\
    REQUESTS_CA_BUNDLE=$CA_FILE \\
    PIP_CERT=$CA_FILE \\
    NODE_EXTRA_CA_CERTS=$CA_FILE \\
    NPM_CONFIG_CAFILE=$CA_FILE
EOF
    ca_lines
    cat <<'EOF'
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get -y upgrade \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
EOF
  } >"$ctx/Dockerfile"
  docker_build "$DEBIAN_IMAGE" "$ctx" "$log"
  finished "$DEBIAN_IMAGE"
}

# --------------------------------------------------------------- derived ---
# The Dockerfile body after FROM for each derived image.
dockerfile_body() {  # dockerfile_body NAME
  local packages
  case $1 in
    python) packages="python3 python3-venv python3-pip" ;;
    node) packages="nodejs npm" ;;
    go) packages="golang-go git ca-certificates" ;;
    static) packages="busybox" ;;
  esac
  cat <<EOF
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && groupadd --gid $APP_UID app \\
 && useradd --uid $APP_UID --gid app --home-dir /home/app --create-home --shell /bin/bash app \\
 && install -d -o app -g app /app
EOF
  case $1 in
    python) cat <<'EOF'
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv && chown -R app:app /opt/venv
EOF
    ;;
    node) cat <<'EOF'
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false
EOF
    ;;
    go) cat <<'EOF'
ENV GOPATH=/go \
    GOCACHE=/go/cache \
    PATH=/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN install -d -o app -g app -m 1777 /go /go/bin /go/cache /go/pkg
EOF
    ;;
    static) cat <<'EOF'
COPY serve-static /usr/local/bin/serve-static
RUN chmod 755 /usr/local/bin/serve-static && install -d -o app -g app /srv/www
EXPOSE 8080
CMD ["serve-static"]
EOF
    ;;
  esac
  echo 'WORKDIR /app'
}

build_derived() {  # build_derived NAME PARENT_ID
  local name=$1 parent=$2 tag="$PREFIX/$1:$SUITE"
  local ctx=$work/$name log=$work/$name.log
  started "$tag"
  mkdir -p "$ctx"
  if [ "$name" = static ]; then
    cat >"$ctx/serve-static" <<'EOF'
#!/bin/sh
# Serve a directory over HTTP (default /srv/www) on $PORT (default 8080).
exec busybox httpd -f -v -p "0.0.0.0:${PORT:-8080}" -h "${1:-/srv/www}"
EOF
  fi
  {
    echo "FROM $DEBIAN_IMAGE"
    dockerfile_body "$name"
  } >"$ctx/Dockerfile"
  choose_network "$DEBIAN_IMAGE"
  docker_build "$tag" "$ctx" "$log" --label "$LABEL_PARENT=$parent"
  finished "$tag"
}

# ------------------------------------------------------------------ main ---
total_start=$SECONDS
built=0

old=$(image_id "$DEBIAN_IMAGE")
if [ "$force" = 0 ] && is_present "$DEBIAN_IMAGE"; then
  echo "$DEBIAN_IMAGE: present"
else
  build_debian
  built=1
  if [ -n "$old" ] && [ "$old" != "$(image_id "$DEBIAN_IMAGE")" ]; then stale_ids+=("$old"); fi
fi
debian_id=$(image_id "$DEBIAN_IMAGE")

for name in "${DERIVED[@]}"; do
  tag="$PREFIX/$name:$SUITE"
  old=$(image_id "$tag")
  if [ "$force" = 0 ] && is_present "$tag" "$debian_id"; then
    echo "$tag: present"
    continue
  fi
  build_derived "$name" "$debian_id"
  built=1
  if [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ]; then stale_ids+=("$old"); fi
done

# Drop the images these builds replaced (derived ones first); an image still
# used by a container or by an app image built on it stays.
for ((i = ${#stale_ids[@]} - 1; i >= 0; i--)); do
  docker image rm "${stale_ids[i]}" >/dev/null 2>&1 || true
done

if [ "$built" = 1 ]; then
  echo "base images ready ($((SECONDS - total_start))s)"
fi
