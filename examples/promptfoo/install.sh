#!/bin/sh
# Install promptfoo (the npm package, pinned) into a folder of its own, for the promptfoo
# grader (safebench/integrations/promptfoo_assert.py) and its test. `make setup` runs this
# where npm is found:  examples/promptfoo/install.sh VERSION PREFIX
#
# promptfoo's optional dependencies are its providers' SDKs and agents (OpenAI's codex and
# Anthropic's agent SDK alone are 590 MB); the grader needs none of them, so they are left
# out (--omit=optional: about 280 MB instead of 1.4 GB). That also leaves out libsql's native
# binary, which promptfoo loads at start and npm picks per platform as an optional
# dependency, so it is installed by name, at the version libsql asks for.
set -eu
version="$1"
prefix="$2"
quiet="--save-exact --no-audit --no-fund --loglevel=error"
# shellcheck disable=SC2086  # $quiet is a list of flags
npm install --prefix "$prefix" --omit=optional $quiet "promptfoo@$version" >/dev/null
native=$(PREFIX="$prefix" node -e '
  const path = require("path");
  const libsql = require(path.resolve(process.env.PREFIX, "node_modules/libsql/package.json"));
  const h = process.report.getReport().header;
  const p = process.platform, a = process.arch;
  const name = p === "linux" ? `${p}-${a}-${h.glibcVersionRuntime ? "gnu" : "musl"}`
    : p === "win32" ? `${p}-${a}-msvc` : `${p}-${a}`;
  console.log(`@libsql/${name}@${libsql.version}`);
')
# shellcheck disable=SC2086
npm install --prefix "$prefix" --omit=optional $quiet "$native" >/dev/null
echo "promptfoo $version installed in $prefix"
