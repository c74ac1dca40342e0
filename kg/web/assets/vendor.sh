#!/bin/sh
# Refresh the vendored JavaScript in kg/web/static/vendor from the versions pinned in
# package-lock.json (run from anywhere; needs npm). The copied files are committed, so installing
# kgloom never runs npm and the pages never load from a CDN.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../static/vendor"
npm ci --prefix "$here" --no-audit --no-fund
mkdir -p "$out"
cp "$here/node_modules/cytoscape/dist/cytoscape.min.js" "$out/cytoscape.min.js"
cp "$here/node_modules/cytoscape/LICENSE" "$out/cytoscape.LICENSE"
node -e "console.log('cytoscape', require('$here/node_modules/cytoscape/package.json').version)" > "$out/VERSIONS"
