// Removes the benchmark server's data directory once the server has stopped.
import * as fs from "fs";

export default async function teardown() {
  const dataDir = process.env.FERRY_BENCH_DATA_DIR;
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}
