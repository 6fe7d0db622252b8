// Stops the demo app servers the deployments started, then removes the data directory.
import * as fs from "fs";
import * as path from "path";

export default async function teardown() {
  const dataDir = process.env.FERRY_E2E_DATA_DIR;
  if (!dataDir) return;
  const targets = path.join(dataDir, "targets");
  if (fs.existsSync(targets)) {
    for (const env of fs.readdirSync(targets)) {
      for (const project of fs.readdirSync(path.join(targets, env))) {
        const pidfile = path.join(targets, env, project, "app.pid");
        if (!fs.existsSync(pidfile)) continue;
        try {
          process.kill(Number(fs.readFileSync(pidfile, "utf8").trim()), "SIGTERM");
        } catch {
          // already gone
        }
      }
    }
  }
  fs.rmSync(dataDir, { recursive: true, force: true });
}
