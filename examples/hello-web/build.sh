#!/bin/sh
# Renders the page of this release into dist/.
set -eu
version=$(cat VERSION)
echo "building hello-web $version (${FERRY_COMMIT:-unknown commit})"
mkdir -p dist
sed -e "s/{{VERSION}}/$version/g" -e "s/{{COMMIT}}/${FERRY_COMMIT:-}/g" page.html > dist/index.html
echo "$version" > dist/version.txt
echo "wrote dist/index.html ($(wc -c < dist/index.html) bytes)"
