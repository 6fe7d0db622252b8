// Trunk's post-build hook (one hook: Trunk runs a stage's hooks concurrently): splits
// the wasm into lazily loaded pages, then writes compressed copies of every asset.
import { precompress } from "./precompress.mjs";
import { splitWasm } from "./split-wasm.mjs";

const stage = process.env.TRUNK_STAGING_DIR || process.argv[2] || "dist";
try {
  await splitWasm(stage);
  precompress(stage);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
