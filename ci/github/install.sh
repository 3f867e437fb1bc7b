#!/usr/bin/env bash
# The GitHub Action's installer: fetch a kubegate release for this runner and verify it
# before anything of it runs.
#
#   install.sh resolve   which release to install: KUBEGATE_VERSION, else the action's own
#                        ref (ACTION_REF) when it is a release tag (v1.2.3); writes
#                        version=… to $GITHUB_OUTPUT, empty when there is none (the action
#                        then builds kubegate from its source).
#   install.sh install   download the archive for RUNNER_OS/RUNNER_ARCH, checksums.txt and
#                        its Sigstore bundle; verify the bundle with cosign (the signer must
#                        be this repository's release workflow at that tag, through GitHub's
#                        OIDC issuer), then the archive's SHA-256 against checksums.txt;
#                        only then extract kubegate and write bin=… to $GITHUB_OUTPUT.
#
# For a mirror of the releases: KUBEGATE_RELEASE_URL replaces the download base, and
# KUBEGATE_RELEASE_KEY (a cosign public key) replaces the keyless identity check when the
# mirror re-signs checksums.txt with its own key.
set -euo pipefail

repo=kubegate/kubegate
base=${KUBEGATE_RELEASE_URL:-https://github.com/$repo/releases/download}
semver='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'

fail() { echo "::error title=kubegate install::$*" >&2; exit 1; }
output() { echo "$1" >> "${GITHUB_OUTPUT:-/dev/stdout}"; }

resolve() {
  local v=${KUBEGATE_VERSION:-}
  if [ -n "$v" ]; then
    [[ $v == v* ]] || v=v$v
    [[ $v =~ $semver ]] || fail "version must be a release, e.g. v1.2.3; got \"$KUBEGATE_VERSION\""
  elif [[ ${ACTION_REF:-} =~ $semver ]]; then
    v=$ACTION_REF
  else
    echo "kubegate: the action's ref \"${ACTION_REF:-}\" is not a release tag and no version is set: building kubegate from source"
  fi
  output "version=$v"
}

install() {
  local v=${KUBEGATE_VERSION:?KUBEGATE_VERSION not set}
  [[ $v =~ $semver ]] || fail "version must be a release, e.g. v1.2.3; got \"$v\""
  local os arch
  case ${RUNNER_OS:-} in
    Linux) os=linux ;;
    macOS) os=darwin ;;
    *) fail "kubegate releases are built for Linux and macOS runners, not \"${RUNNER_OS:-}\"" ;;
  esac
  case ${RUNNER_ARCH:-} in
    X64) arch=amd64 ;;
    ARM64) arch=arm64 ;;
    *) fail "kubegate releases are built for X64 and ARM64 runners, not \"${RUNNER_ARCH:-}\"" ;;
  esac
  local archive=kubegate_${v#v}_${os}_${arch}.tar.gz
  local dir=${KUBEGATE_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/kubegate-$v}
  local proto='=https' # a mirror (KUBEGATE_RELEASE_URL) may be plain HTTP: the signature still holds
  [ -z "${KUBEGATE_RELEASE_URL:-}" ] || proto='=https,http'
  dl=$(mktemp -d) # global: the EXIT trap runs after install returns
  trap 'rm -rf "$dl"' EXIT
  for f in checksums.txt checksums.txt.sigstore.json "$archive"; do
    curl -fsSL --retry 3 --proto "$proto" -o "$dl/$f" "$base/$v/$f" || fail "could not download $base/$v/$f"
  done

  local verify=(verify-blob --bundle "$dl/checksums.txt.sigstore.json")
  if [ -n "${KUBEGATE_RELEASE_KEY:-}" ]; then
    verify+=(--key "$KUBEGATE_RELEASE_KEY" --insecure-ignore-tlog=true)
  else
    verify+=(--certificate-identity "https://github.com/$repo/.github/workflows/release.yml@refs/tags/$v"
      --certificate-oidc-issuer https://token.actions.githubusercontent.com)
  fi
  command -v cosign >/dev/null || fail "cosign is needed to verify the release (the action installs it)"
  cosign "${verify[@]}" "$dl/checksums.txt" >"$dl/verify.log" 2>&1 ||
    { cat "$dl/verify.log" >&2; fail "the signature of checksums.txt for $v does not verify: not running this release"; }

  local want got
  want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1; exit }' "$dl/checksums.txt")
  [ -n "$want" ] || fail "checksums.txt of $v lists no $archive"
  if command -v sha256sum >/dev/null; then
    got=$(sha256sum "$dl/$archive" | cut -d' ' -f1)
  else
    got=$(shasum -a 256 "$dl/$archive" | cut -d' ' -f1)
  fi
  [ "$got" = "$want" ] || fail "$archive does not match checksums.txt (sha256 $got, want $want): not running it"

  mkdir -p "$dir"
  tar -xzf "$dl/$archive" -C "$dir" kubegate || fail "$archive holds no kubegate"
  chmod 0755 "$dir/kubegate"
  echo "kubegate $v verified (signature of checksums.txt, sha256 of $archive) in $dir"
  output "bin=$dir/kubegate"
}

case ${1:-} in
  resolve) resolve ;;
  install) install ;;
  *) echo "usage: install.sh resolve|install" >&2; exit 2 ;;
esac
