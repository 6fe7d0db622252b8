// Splits the SPA's wasm at its lazy routes (app/src/routes/lazy.rs), so the first load
// carries only the shell and the environment matrix and each other page arrives when it
// first opens.
//
// Trunk 0.22 has no split step, so this runs as its post-build hook and redoes the last
// part of its Rust pipeline from the wasm cargo left behind (linked with --emit-relocs,
// see .cargo/config.toml): wasm-split-cli cuts it into a main module, one module per
// piece of pages and the chunks pieces share, plus a JS loader; wasm-bindgen binds the main module;
// wasm-opt shrinks every module. The results replace Trunk's unsplit files in the
// staging directory under content-hashed names, and index.html is pointed at them.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const NAME = "ferry-frontend";
// binaryen's optimizer, from npm (scripts/setup.sh; Debian's version 108 breaks reference
// types). Loaded once here: its wasm-opt command takes seconds to start, per module.
const BINARYEN = new URL("../.tools/node_modules/binaryen/index.js", import.meta.url);
// The loader wasm-split-cli writes, as the main module imports it.
const LOADER = "__wasm_split.js";

function run(command, args) {
  const result = spawnSync(command, args, { encoding: "utf8" });
  if (result.error) throw new Error(`${command}: ${result.error.message} (scripts/setup.sh installs it)`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(" ")} failed:\n${result.stderr}`);
}

const digest = (...parts) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex").slice(0, 16);
};
const sri = (bytes) => `sha384-${createHash("sha384").update(bytes).digest("base64")}`;

function replaceOnce(text, from, to, where) {
  if (!text.includes(from)) throw new Error(`split-wasm: ${where} has no ${from}; did a tool's output change?`);
  return text.replaceAll(from, to);
}

// Points index.html at `to` instead of `from`, with `to`'s integrity.
function repoint(html, from, to, bytes) {
  html = replaceOnce(html, `/${from}`, `/${to}`, "index.html");
  const link = new RegExp(`(href="/${to.replace(/\./g, "\\.")}"[^>]*integrity=")[^"]*(")`);
  return html.replace(link, `$1${sri(bytes)}$2`);
}

// `bytes` without the "name" section: the output drops names anyway, and binaryen
// warns about a subsection of rustc's that it does not know, once per module.
function withoutNames(bytes) {
  const leb = (at) => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return [value, at];
    }
  };
  const kept = [bytes.subarray(0, 8)];
  for (let at = 8; at < bytes.length; ) {
    const [size, body] = leb(at + 1);
    const end = body + size;
    const [nameLength, name] = bytes[at] === 0 ? leb(body) : [0, body];
    const isNames = bytes[at] === 0 && bytes.subarray(name, name + nameLength).toString() === "name";
    if (!isNames) kept.push(bytes.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

// A function that optimizes a module for size, as `wasm-opt -Oz` with the wasm
// features every browser Ferry supports has.
function optimizer(binaryen) {
  const F = binaryen.Features;
  const features = F.MVP | F.BulkMemory | F.BulkMemoryOpt | F.NontrappingFPToInt | F.ReferenceTypes | F.SignExt | F.MutableGlobals;
  binaryen.setOptimizeLevel(2);
  binaryen.setShrinkLevel(2);
  binaryen.setDebugInfo(false);
  return (bytes) => {
    const module = binaryen.readBinary(withoutNames(bytes));
    try {
      module.setFeatures(features);
      module.optimize();
      return Buffer.from(module.emitBinary());
    } finally {
      module.dispose();
    }
  };
}

export async function splitWasm(stage) {
  const { default: binaryen } = await import(BINARYEN).catch(() => {
    throw new Error("split-wasm: binaryen is missing from .tools (scripts/setup.sh installs it)");
  });
  const optimize = optimizer(binaryen);
  // The cargo profile the page's rust link asks Trunk for names cargo's output directory.
  const page = readFileSync(process.env.TRUNK_HTML_FILE || "frontend/index.html", "utf8");
  const profile = page.match(/data-cargo-profile="([^"]+)"/)?.[1] ?? "release";
  const target = process.env.CARGO_TARGET_DIR || "target";
  const cargoWasm = join(target, "wasm32-unknown-unknown", profile, `${NAME}.wasm`);
  const work = join(target, "ferry-split");
  rmSync(work, { recursive: true, force: true });

  run("wasm-split-cli", [cargoWasm, join(work, "split"), "--out-name", NAME, "--target", "web"]);
  run("wasm-bindgen", [
    "--target=web",
    `--out-dir=${join(work, "bindgen")}`,
    `--out-name=${NAME}`,
    "--no-typescript",
    // The split modules reach the main module's functions through these exports.
    "--keep-lld-exports",
    "--no-demangle",
    join(work, "split", `${NAME}.wasm`),
  ]);
  const mainWasm = optimize(readFileSync(join(work, "bindgen", `${NAME}_bg.wasm`)));
  const pieces = readdirSync(join(work, "split"))
    .filter((f) => f.endsWith(".wasm") && f !== `${NAME}.wasm`)
    .sort()
    .map((name) => ({ name, bytes: optimize(readFileSync(join(work, "split", name))) }));
  if (pieces.length === 0) throw new Error("split-wasm: no lazy pages found in the wasm");
  const boundJs = readFileSync(join(work, "bindgen", `${NAME}.js`), "utf8");

  // The loader and the pieces live in a directory named after everything they depend
  // on; the main JS and wasm are named after their own bytes.
  const dir = `split-${digest(mainWasm, boundJs, ...pieces.flatMap((p) => [p.name, p.bytes]))}`;
  // Only the module imports move: the import object keeps the name the wasm asks for.
  const mainJs = replaceOnce(boundJs, `from "./${LOADER}"`, `from "./${dir}/${LOADER}"`, "the bound JS");
  const jsName = `${NAME}-${digest(mainJs)}.js`;
  const wasmName = `${NAME}-${digest(mainWasm)}_bg.wasm`;
  const loader = replaceOnce(
    readFileSync(join(work, "split", LOADER), "utf8"),
    `from "./${NAME}.js"`,
    `from "../${jsName}"`,
    "the split loader",
  );

  const staged = readdirSync(stage);
  const trunkJs = staged.find((f) => new RegExp(`^${NAME}-[0-9a-f]+\\.js$`).test(f));
  const trunkWasm = staged.find((f) => new RegExp(`^${NAME}-[0-9a-f]+_bg\\.wasm$`).test(f));
  if (!trunkJs || !trunkWasm) throw new Error(`split-wasm: Trunk's ${NAME} files are not in ${stage}`);
  let html = readFileSync(join(stage, "index.html"), "utf8");
  html = repoint(html, trunkJs, jsName, mainJs);
  html = repoint(html, trunkWasm, wasmName, mainWasm);

  unlinkSync(join(stage, trunkJs));
  unlinkSync(join(stage, trunkWasm));
  writeFileSync(join(stage, jsName), mainJs);
  writeFileSync(join(stage, wasmName), mainWasm);
  mkdirSync(join(stage, dir));
  writeFileSync(join(stage, dir, LOADER), loader);
  for (const { name, bytes } of pieces) writeFileSync(join(stage, dir, name), bytes);
  writeFileSync(join(stage, "index.html"), html);
  console.log(`split-wasm: main module ${mainWasm.length} bytes, ${pieces.length} lazy pieces in ${dir}/`);
}
