// An agent on another "host": registered from the Agents page with a one-time token
// that carries its name and labels, started as the real `ferry-agent` binary, shown
// online with its labels, relabelled by the administrator; a second start of it that
// presents other labels is refused with the reason on the page; then it is revoked.
import { test, expect } from "@playwright/test";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

test("register, watch and revoke an agent", async ({ page }) => {
  await page.goto("/agents");
  await expect(page.locator('tr[data-agent="built-in (this server)"]')).toHaveAttribute("data-state", "online");
  const register = page.locator("form.register-agent");
  await register.getByLabel("Name").fill("e2e-host");
  await register.getByLabel("Labels").fill("env=e2e,role=web");
  await page.getByRole("button", { name: "Register an agent" }).click();
  const command = (await page.getByTestId("agent-command").textContent()) || "";
  const token = command.match(/--registration-token (\S+)/)?.[1];
  expect(token).toMatch(/^ferry_reg_/);

  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "ferry-agent-e2e-"));
  const binary = path.resolve(__dirname, "..", "..", "target", "debug", "ferry-agent");
  const agent = spawn(binary, [
    "--server", "http://127.0.0.1:18080",
    "--workdir", workdir,
    "--registration-token", token!,
  ], { stdio: "inherit" });
  const exited = new Promise<number | null>((resolve) => agent.on("exit", resolve));
  let impostor: ReturnType<typeof spawn> | undefined;
  try {
    const row = page.locator('tr[data-agent="e2e-host"]');
    await expect(row).toHaveAttribute("data-state", "online", { timeout: 20_000 });
    await expect(row).toContainText("env=e2e, role=web");

    await row.getByRole("button", { name: "Edit" }).click();
    const form = page.getByRole("form", { name: "Change the agent's name and labels" });
    await form.getByLabel("Labels").fill("env=e2e,role=api");
    await form.getByRole("button", { name: /^Save agent/ }).click();
    await expect(row).toContainText("env=e2e, role=api");

    // The same host started again claiming production: refused, and the page says why.
    impostor = spawn(binary, [
      "--server", "http://127.0.0.1:18080",
      "--labels", "env=production",
      "--workdir", workdir,
    ], { stdio: "inherit" });
    const impostorExit = new Promise<number | null>((resolve) => impostor!.on("exit", resolve));
    expect(await impostorExit).toBe(1);
    await expect(row.locator("td.problem")).toContainText("presented `e2e-host` with env=production", { timeout: 10_000 });

    await row.getByRole("button", { name: "Revoke" }).click();
    await expect(row).toHaveAttribute("data-state", "revoked");
    // Refused from then on, the agent stops by itself.
    expect(await exited).toBe(1);
  } finally {
    agent.kill();
    impostor?.kill();
    fs.rmSync(workdir, { recursive: true, force: true });
  }
});
