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
# Other Debian suites carry other language versions (trixie: Python 3.13 and
# Go 1.24, sid: Python 3.14); the platform builds those on first need with
# --suite and --only (deployments/base_images.py), and an operator can build
# them ahead of time. Go is the exception: the go image of any suite is
# bookworm with that suite's golang-go installed (see go_from_suite).
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
sources_list() {  # sources_list SUITE
  if [ "$1" = sid ]; then  # unstable has no updates or security suites
    echo "deb $MIRROR $1 main"
  else
    printf '%s\n' "deb $MIRROR $1 main" "deb $MIRROR $1-updates main" \
      "deb $SECURITY_MIRROR $1-security main"
  fi
}

ca_lines() {  # Dockerfile lines that make the image trust BUILD_CA_BUNDLE
  if [ -n "$ca_bundle" ]; then
    printf '%s\n' 'COPY m3o-build-ca.crt /usr/local/share/ca-certificates/m3o-build-ca.crt' \
      'RUN chmod 644 /usr/local/share/ca-certificates/m3o-build-ca.crt && update-ca-certificates'
  fi
}

import_rootfs() {  # import_rootfs DIR TAG
  tar --numeric-owner -C "$1" -c . | docker import - "$2"
}

build_debian() {  # build_debian SUITE
  local suite=$1 image="$PREFIX/debian:$1"
  local rootfs=$work/rootfs-$1 ctx=$work/debian-$1 log=$work/debian-$1.log
  [ "$(id -u)" = 0 ] || die "building $image needs root (debootstrap)"
  command -v debootstrap >/dev/null 2>&1 || die "debootstrap is not installed"
  started "$image"
  mkdir -p "$rootfs" "$ctx"
  run_logged "$log" debootstrap --variant=minbase --include=ca-certificates \
    "$suite" "$rootfs" "$MIRROR"

  # Host files debootstrap copies in; Docker provides its own at run time.
  rm -f "$rootfs/etc/resolv.conf" "$rootfs/etc/hostname"
  sources_list "$suite" >"$rootfs/etc/apt/sources.list"
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
  run_logged "$log" import_rootfs "$rootfs" "$image"
  rm -rf --one-file-system "$rootfs"
  choose_network "$image"

  [ -z "$ca_bundle" ] || cp "$ca_bundle" "$ctx/m3o-build-ca.crt"
  {
    cat <<EOF
FROM $image
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
  docker_build "$image" "$ctx" "$log"
  finished "$image"
}

# --------------------------------------------------------------- derived ---
# The Debian each image is built on: its suite's, but bookworm for Go. Go's
# toolchain is static and a suite's golang-go depends on nothing but its own
# golang-* packages, so a newer Go installs on bookworm from the suite's
# packages alone: no rootfs of that suite to debootstrap for it, and every Go
# app runs on the same Debian.
system_suite() {  # system_suite NAME
  if [ "$1" = go ]; then echo bookworm; else echo "$SUITE"; fi
}

go_from_suite() {  # go_from_suite CONTEXT_DIR: apt files taking golang-* alone from $SUITE
  sources_list "$SUITE" >"$1/go-from-$SUITE.list"
  # -1 keeps everything else of the suite out; golang-* at the default
  # priority, where the suite's newer version wins over bookworm's.
  cat >"$1/go-from-$SUITE.pref" <<EOF
Package: golang-*
Pin: release n=$SUITE
Pin-Priority: 500

Package: golang-*
Pin: release n=$SUITE-updates
Pin-Priority: 500

Package: golang-*
Pin: release n=$SUITE-security
Pin-Priority: 500

Package: *
Pin: release n=$SUITE
Pin-Priority: -1

Package: *
Pin: release n=$SUITE-updates
Pin-Priority: -1

Package: *
Pin: release n=$SUITE-security
Pin-Priority: -1
EOF
}

# The Dockerfile body after FROM for each derived image.
dockerfile_body() {  # dockerfile_body NAME
  local packages options="" unlist=""
  case $1 in
    python) packages="python3 python3-venv python3-pip" ;;
    node) packages="nodejs npm" ;;
    go) packages="golang-go git ca-certificates" ;;
    static) packages="busybox" ;;
  esac
  if [ "$1" = go ] && [ "$SUITE" != bookworm ]; then
    echo "COPY go-from-$SUITE.list /etc/apt/sources.list.d/"
    echo "COPY go-from-$SUITE.pref /etc/apt/preferences.d/"
    # Later apt-get runs in the image see bookworm alone, as in every other one.
    unlist="rm /etc/apt/sources.list.d/go-from-$SUITE.list /etc/apt/preferences.d/go-from-$SUITE.pref \\
 && "
    # dpkg syncs each of Go's 14,000 files to disk; a layer that does not
    # finish is thrown away anyway, and without the syncs the install takes
    # 9 s instead of 15 here.
    options=" -o Dpkg::Options::=--force-unsafe-io"
  fi
  cat <<EOF
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$options $packages \\
 && ${unlist}apt-get clean && rm -rf /var/lib/apt/lists/* \\
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
      # Go ships its standard library compiled up to 1.19 (bookworm's), as
      # source only since 1.20: compiled once here into the build cache, an
      # app's build finds it there instead of compiling it again. Writable by
      # all, for a Dockerfile that builds as USER app.
      if [ "$SUITE" != bookworm ]; then
        echo 'RUN go build std && chmod -R a+rwX /go/cache'
      fi
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
  local name=$1 parent=$2 tag="$PREFIX/$1:$SUITE" from
  from="$PREFIX/debian:$(system_suite "$1")"
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
  if [ "$name" = go ] && [ "$SUITE" != bookworm ]; then go_from_suite "$ctx"; fi
  {
    echo "FROM $from"
    dockerfile_body "$name"
  } >"$ctx/Dockerfile"
  choose_network "$from"
  docker_build "$tag" "$ctx" "$log" --label "$LABEL_PARENT=$parent"
  finished "$tag"
}

# ------------------------------------------------------------------ main ---
total_start=$SECONDS
built=0

declare -A debian_ids=()  # suite -> image ID, for the suites the images need
for name in "${DERIVED[@]}"; do
  suite=$(system_suite "$name")
  [ -z "${debian_ids[$suite]:-}" ] || continue
  image="$PREFIX/debian:$suite"
  old=$(image_id "$image")
  if [ "$suite" != "$SUITE" ]; then
    # Bookworm's, under a newer suite's go image: rebuilt here, the bookworm
    # images built on it would be left on the one it replaced.
    [ -n "$old" ] || die "$image is missing: build the bookworm images first (make base-images)"
    is_present "$image" || die "$image was built by another version of this script or with" \
      "another BUILD_CA_BUNDLE (this run's: ${ca_bundle:-none}): run this with the bundle the" \
      "bookworm images were built with, or rebuild them with this one (make base-images)"
    echo "$image: present"
  elif [ "$force" = 0 ] && is_present "$image"; then
    echo "$image: present"
  else
    build_debian "$suite"
    built=1
    if [ -n "$old" ] && [ "$old" != "$(image_id "$image")" ]; then stale_ids+=("$old"); fi
  fi
  debian_ids[$suite]=$(image_id "$image")
done

for name in "${DERIVED[@]}"; do
  tag="$PREFIX/$name:$SUITE"
  debian_id=${debian_ids[$(system_suite "$name")]}
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
