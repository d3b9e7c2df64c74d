#!/usr/bin/env bash
# Copies the pinned front-end packages the pages use into web/vendor, byte for byte as the npm
# registry publishes them (`npm pack` checks each tarball against the registry's integrity hash).
# The gateway embeds web/ at build time, so `cargo run` needs neither npm nor a network.
#
#   bash web/vendor.sh          rewrite web/vendor from the registry
#   bash web/vendor.sh --check  fail if web/vendor differs from what the registry gives (CI)
set -euo pipefail
cd "$(dirname "$0")"

# package@version  file-in-package  destination (under vendor/)
files=(
    "graphiql@4.1.2                  graphiql.min.js                          graphiql-4.1.2/graphiql.min.js"
    "graphiql@4.1.2                  graphiql.min.css                         graphiql-4.1.2/graphiql.min.css"
    "graphiql@4.1.2                  LICENSE                                  graphiql-4.1.2/LICENSE"
    "@graphiql/plugin-explorer@4.0.6 dist/index.umd.js                        plugin-explorer-4.0.6/index.umd.js"
    "@graphiql/plugin-explorer@4.0.6 dist/style.css                           plugin-explorer-4.0.6/style.css"
    "@graphiql/plugin-explorer@4.0.6 package.json                             plugin-explorer-4.0.6/package.json"
    "react@18.3.1                    umd/react.production.min.js              react-18.3.1/react.production.min.js"
    "react@18.3.1                    LICENSE                                  react-18.3.1/LICENSE"
    "react-dom@18.3.1                umd/react-dom.production.min.js          react-dom-18.3.1/react-dom.production.min.js"
    "react-dom@18.3.1                LICENSE                                  react-dom-18.3.1/LICENSE"
    "uplot@1.6.32                    dist/uPlot.esm.js                        uplot-1.6.32/uPlot.esm.js"
    "uplot@1.6.32                    dist/uPlot.min.css                       uplot-1.6.32/uPlot.min.css"
    "uplot@1.6.32                    LICENSE                                  uplot-1.6.32/LICENSE"
)

check=false
[ "${1:-}" = "--check" ] && check=true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/vendor"
mkdir -p "$out"

declare -A unpacked
for line in "${files[@]}"; do
    read -r package file dest <<<"$line"
    if [ -z "${unpacked[$package]:-}" ]; then
        dir="$work/$(echo "$package" | tr '@/' '__')"
        mkdir -p "$dir"
        tarball=$(cd "$dir" && npm pack --silent "$package")
        tar -xzf "$dir/$tarball" -C "$dir"
        unpacked[$package]="$dir/package"
    fi
    mkdir -p "$(dirname "$out/$dest")"
    cp "${unpacked[$package]}/$file" "$out/$dest"
done

if $check; then
    if diff -r "$out" vendor; then
        echo "web/vendor matches the pinned packages"
    else
        echo "web/vendor differs from the pinned packages: run bash web/vendor.sh and commit the result" >&2
        exit 1
    fi
else
    rm -rf vendor
    cp -r "$out" vendor
    echo "web/vendor rewritten from the pinned packages:"
    (cd vendor && find . -type f | sort | xargs ls -l | awk '{print "  " $5 "\t" $9}')
fi
