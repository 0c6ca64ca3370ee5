#!/usr/bin/env bash
# `make images`: build sharepack-api and sharepack-worker (which also runs the sync service) without network
# inside the build, with podman or docker.
#
# Steps, each skipped when its result is already there:
#   1. the base: the Dockerfiles' pinned python:3.11-slim when it can be pulled; otherwise a Debian bookworm
#      base with Debian's Python made by mmdebstrap (without manuals, translations and documentation other
#      than the copyright files) and imported as localhost/sharepack-python-base:bookworm-<recipe hash>;
#   2. the wheelhouse: `pip wheel` of requirements.lock into build/images/wheels (the images install from it
#      with --no-index --require-hashes);
#   3. Swagger UI's files from node_modules (installed by `make install`) into build/images/swagger-ui-dist;
#   4. both images, built with --network none.
# `build.sh context` does steps 2 and 3 only: what a plain `docker build` or `docker compose build` needs.
#
# Environment: CONTAINER_ENGINE (podman or docker; default docker when its daemon answers, else podman),
# IMAGE_TAG (default: local), BASE_IMAGE (skip step 1 and build on this image), PYTHON (the Python 3.11
# that builds the wheelhouse; default .venv/bin/python).
# podman runs here with runc, cgroupfs and explicit ulimits (crun and podman's default limits fail on these
# machines); they are written to .local/images/containers.conf, which CONTAINERS_CONF points at.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:-images}
TAG=${IMAGE_TAG:-local}
PYTHON=${PYTHON:-.venv/bin/python}
STATE=.local/images
CONTEXT=build/images
# The local base's recipe; its hash names the image, so a changed recipe builds a new base.
BASE_RECIPE=(--variant=minbase --include=python3,python3-venv,ca-certificates
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' bookworm)
LOCAL_BASE=localhost/sharepack-python-base:bookworm-$(echo "${BASE_RECIPE[*]}" | sha256sum | cut -c1-12)
mkdir -p "$STATE" "$CONTEXT"

step_started=$SECONDS
step() {
    echo "images: $1 ($((SECONDS - step_started)) s)"
    step_started=$SECONDS
}

choose_engine() {
    if [ -z "${CONTAINER_ENGINE:-}" ]; then
        if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
            CONTAINER_ENGINE=docker
        elif command -v podman >/dev/null 2>&1; then
            CONTAINER_ENGINE=podman
        else
            echo "images: neither podman nor a running docker was found (make install installs podman on Debian)" >&2
            exit 1
        fi
    fi
    ENGINE=$CONTAINER_ENGINE
    if [ "$ENGINE" = podman ]; then
        # Limits no higher than this machine's hard ones: podman's defaults try to raise them and fail.
        local hard_nofile hard_nproc nofile=1024 nproc=4096
        hard_nofile=$(ulimit -Hn); hard_nproc=$(ulimit -Hu)
        [ "$hard_nofile" != unlimited ] && [ "$hard_nofile" -lt "$nofile" ] && nofile=$hard_nofile
        [ "$hard_nproc" != unlimited ] && [ "$hard_nproc" -lt "$nproc" ] && nproc=$hard_nproc
        cat >"$STATE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
        export CONTAINERS_CONF=$PWD/$STATE/containers.conf
    fi
}

# 1. The base image: sets build_args.
choose_base() {
    build_args=()
    if [ -n "${BASE_IMAGE:-}" ]; then
        build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
        return
    fi
    local published
    published=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile.api)
    if "$ENGINE" image inspect "$published" >/dev/null 2>&1 \
        || timeout 120 "$ENGINE" pull -q "$published" >/dev/null 2>&1; then
        step "base $published"
        return
    fi
    if ! "$ENGINE" image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        command -v mmdebstrap >/dev/null 2>&1 || {
            echo "images: $published cannot be pulled and mmdebstrap is not installed (make install)" >&2
            exit 1
        }
        mmdebstrap --quiet "${BASE_RECIPE[@]}" "$STATE/base.tar"
        "$ENGINE" import --quiet "$STATE/base.tar" "$LOCAL_BASE" >/dev/null
        rm -f "$STATE/base.tar"
    fi
    build_args=(--build-arg "BASE_IMAGE=$LOCAL_BASE")
    step "base $LOCAL_BASE ($published cannot be pulled)"
}

# 2. The wheelhouse: the wheels of requirements.lock, for the images' Python (3.11).
wheelhouse() {
    local lock_sum
    lock_sum=$(sha256sum requirements.lock | cut -d' ' -f1)
    if [ "$(cat "$CONTEXT/wheels/.requirements.lock.sha256" 2>/dev/null)" != "$lock_sum" ]; then
        "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
            echo "images: $PYTHON is not Python 3.11, the images' Python; set PYTHON to one" >&2
            exit 1
        }
        rm -rf "$CONTEXT/wheels"
        "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --require-hashes -w "$CONTEXT/wheels" \
            -r requirements.lock
        echo "$lock_sum" >"$CONTEXT/wheels/.requirements.lock.sha256"
    fi
    step "wheelhouse $CONTEXT/wheels"
}

# 3. Swagger UI, as installed from package-lock.json (npm checked each file's integrity hash).
swagger_ui() {
    local swagger=node_modules/swagger-ui-dist
    [ -f "$swagger/swagger-ui-bundle.js" ] || { echo "images: $swagger is missing: run make install" >&2; exit 1; }
    rm -rf "$CONTEXT/swagger-ui-dist" && mkdir -p "$CONTEXT/swagger-ui-dist"
    cp "$swagger"/{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js,LICENSE,NOTICE} \
        "$CONTEXT/swagger-ui-dist/"
    step "swagger-ui $CONTEXT/swagger-ui-dist"
}

# 4. The images. Nothing inside the build needs the network. podman writes OCI images by default, and the
# OCI format has no HEALTHCHECK: --format docker keeps it.
images() {
    [ "$ENGINE" = podman ] && build_args+=(--format docker)
    for image in api worker; do
        "$ENGINE" build --quiet --network none "${build_args[@]}" -f "Dockerfile.$image" -t "sharepack-$image:$TAG" . \
            >/dev/null
        step "sharepack-$image:$TAG"
    done
    "$ENGINE" image ls --filter reference="sharepack-*:$TAG"
}

case $MODE in
    context) wheelhouse; swagger_ui ;;
    images) choose_engine; choose_base; wheelhouse; swagger_ui; images ;;
    *) echo "usage: $0 [images|context]" >&2; exit 2 ;;
esac
