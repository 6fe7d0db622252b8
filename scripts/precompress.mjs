// Writes brotli (.br) and gzip (.gz) copies of the SPA's assets at maximum compression,
// which the server sends to browsers that accept them.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

export function precompress(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    // The lazily loaded wasm pieces sit in a directory of their own (split-wasm.mjs);
    // public/ holds the files copied as they are (the icon).
    if (entry.isDirectory()) precompress(path);
    if (!entry.isFile() || !/\.(wasm|js|css|html|svg)$/.test(entry.name)) continue;
    const data = readFileSync(path);
    writeFileSync(
      `${path}.br`,
      brotliCompressSync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      }),
    );
    writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
  }
}
