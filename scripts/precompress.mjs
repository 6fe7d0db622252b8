// Trunk post-build hook: writes brotli (.br) and gzip (.gz) copies of the SPA's
// assets at maximum compression, which the server sends to browsers that accept them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2] || "dist";
for (const name of readdirSync(dir)) {
  if (!/\.(wasm|js|css|html|svg)$/.test(name)) continue;
  const data = readFileSync(join(dir, name));
  writeFileSync(
    join(dir, `${name}.br`),
    brotliCompressSync(data, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
        [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }),
  );
  writeFileSync(join(dir, `${name}.gz`), gzipSync(data, { level: 9 }));
}
