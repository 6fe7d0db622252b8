// A project's variables and secrets in its settings page: a secret is accepted, then
// shown only as set; a bad name is refused with its reason.
import { test, expect } from "@playwright/test";
import { restoreDevelopment, startFailingDeployment } from "./failing";

test("set a variable and a secret, and remove the variable", async ({ page, request }) => {
  await page.goto("/projects/hello-web/settings");
  const form = page.locator("form.variable-form");
  await form.getByLabel("Name").fill("lowercase");
  await form.getByLabel("Value").fill("x");
  await form.getByRole("button", { name: "Save variable" }).click();
  await expect(page.getByRole("alert")).toContainText("not an environment variable name");

  await form.getByLabel("Name").fill("GREETING");
  await form.getByLabel("Value").fill("hello");
  await form.getByRole("button", { name: "Save variable" }).click();
  await expect(page.locator('tr[data-variable="GREETING"]')).toContainText("hello");

  await form.getByLabel("Name").fill("API_TOKEN");
  await form.getByLabel("Environment").selectOption("production");
  await form.getByLabel("secret").check();
  await form.getByLabel("Value").fill("very-secret-value");
  await form.getByRole("button", { name: "Save variable" }).click();
  const secret = page.locator('tr[data-variable="API_TOKEN"]');
  await expect(secret).toContainText("(secret)");
  await expect(secret).toContainText("production");
  const listed = await (await request.get("/api/v1/projects/hello-web/variables")).text();
  expect(listed).not.toContain("very-secret-value");

  await page.locator('tr[data-variable="GREETING"]').getByRole("button", { name: "Remove" }).click();
  await expect(page.locator('tr[data-variable="GREETING"]')).toHaveCount(0);
});

// A weekly freeze around the present, set in the settings page in a named time zone
// (a wrong one is refused at once): promoting into it is
// refused, and the admin deploys anyway by giving a reason the audit log keeps.
test("freeze staging, override it with a reason, and thaw it", async ({ page }) => {
  const day = (d: Date) => ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][d.getUTCDay()];
  const at = (d: Date) => `${day(d)} ${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
  const now = Date.now();
  await page.goto("/projects/hello-web/settings");
  const form = page.locator("form.freeze-form");
  await form.getByLabel("Environment").selectOption("staging");
  await form.getByLabel("From").fill("someday 10:00");
  await form.getByLabel("To").fill("mon 08:00");
  await form.getByLabel("Reason").fill("release week");
  await form.getByRole("button", { name: "Add freeze" }).click();
  await expect(page.getByTestId("freeze-error")).toContainText("window.from");
  // In Tokyo's time (UTC+9 all year), as a team there would write it.
  const tokyo = 9 * 3_600_000;
  await form.getByLabel("From").fill(at(new Date(now + tokyo - 3_600_000)));
  await form.getByLabel("To").fill(at(new Date(now + tokyo + 3_600_000)));
  await form.getByLabel("Time zone").fill("Asia/Tokio");
  await form.getByRole("button", { name: "Add freeze" }).click();
  await expect(page.getByTestId("freeze-error")).toContainText("window.time_zone: `Asia/Tokio`");
  await form.getByLabel("Time zone").fill("Asia/Tokyo");
  await form.getByRole("button", { name: "Add freeze" }).click();
  const row = page.locator("table.freezes tr[data-active=true]");
  await expect(row).toContainText("release week");
  await expect(row).toContainText("every week, Asia/Tokyo");
  await expect(row).toContainText("❄ now");

  await page.goto("/");
  const development = page.locator('section.project[data-project="hello-web"] td.cell[data-env="development"]');
  await development.getByRole("button", { name: /^Promote .* to staging…$/ }).click();
  const dialog = page.getByRole("dialog");
  await expect(dialog.getByTestId("frozen")).toContainText("staging is frozen until");
  const confirm = dialog.getByRole("button", { name: "Confirm promotion" });
  await expect(confirm).toBeDisabled();
  await dialog.getByTestId("freeze-override").fill("hotfix for INC-7");
  await page.screenshot({ path: "screenshots/promote-frozen.png" });
  await confirm.click();
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });

  await page.goto("/audit");
  await expect(page.locator("table")).toContainText("freeze.override");
  await expect(page.locator("table")).toContainText("hotfix for INC-7");

  await page.goto("/projects/hello-web/settings");
  await row.getByRole("button", { name: "Remove" }).click();
  await expect(page.locator("table.freezes tr[data-active=true]")).toHaveCount(0);
});

// The project's retention: the server's days shown, a bad number refused, the
// project's own kept across a reload, then back to the server's.
test("set how long the project keeps its logs", async ({ page, request }) => {
  await page.goto("/projects/hello-web/settings");
  const form = page.locator("form.retention-form");
  const days = form.getByLabel("Days");
  await expect(days).toHaveAttribute("placeholder", "empty: the server's 90 days");
  await days.fill("99999");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("retention-error")).toContainText("days: from 0");
  await days.fill("30");
  await form.getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("retention-saved")).toBeVisible();
  await page.reload();
  await expect(page.locator("form.retention-form").getByLabel("Days")).toHaveValue("30");
  const stored = await (await request.get("/api/v1/projects/hello-web/retention")).json();
  expect(stored).toEqual({ days: 30, server_days: 90 });
  await page.locator("form.retention-form").getByLabel("Days").fill("");
  await page.locator("form.retention-form").getByRole("button", { name: "Save" }).click();
  await expect(page.getByTestId("retention-saved")).toBeVisible();
  expect((await (await request.get("/api/v1/projects/hello-web/retention")).json()).days).toBeNull();
});

// Linking the project to its GitHub repository shows the webhook URL and, once, the
// secret; after a reload the link stays and the secret is gone.
test("link the project to a GitHub repository", async ({ page }) => {
  await page.goto("/projects/hello-web/settings");
  const form = page.locator("form.forge-form");
  await form.getByLabel("Repository").fill("not a repo");
  await form.getByRole("button", { name: "Link" }).click();
  await expect(page.getByTestId("forge-error")).toContainText("is not a repository path");
  await form.getByLabel("Repository").fill("octo-org/hello-web");
  await form.getByRole("button", { name: "Link" }).click();
  await expect(page.getByTestId("hook-url")).toHaveText(/\/hooks\/github$/);
  const secret = (await page.getByTestId("hook-secret").textContent()) || "";
  expect(secret.length).toBeGreaterThanOrEqual(32);
  await page.reload();
  await expect(page.locator(".forge-link")).toContainText("octo-org/hello-web");
  await expect(page.getByTestId("hook-secret")).toHaveCount(0);
  await page.locator("form.forge-form").getByRole("button", { name: "Unlink" }).click();
  await expect(page.locator(".forge-link")).toHaveCount(0);
});

// With an API token, Ferry checks it, creates the webhook on the repository and
// reports each deployment there (a local GitHub API receives them); the settings page
// lists the reports.
test("link with a token: the webhook is created and deployments are reported", async ({ page }) => {
  const github = `http://127.0.0.1:${process.env.FERRY_E2E_GITHUB_PORT || 18091}`;
  await page.goto("/projects/hello-web/settings");
  const form = page.locator("form.forge-form");
  await form.getByLabel("Repository").fill("octo-org/hello-web");
  await form.getByTestId("forge-token").fill("ghp_wrong");
  await form.getByRole("button", { name: "Link" }).click();
  await expect(page.getByTestId("forge-error")).toContainText("Bad credentials");
  await form.getByTestId("forge-token").fill("ghp_e2e");
  await form.getByLabel("Create the webhook").check();
  await form.getByRole("button", { name: "Link" }).click();
  await expect(page.locator(".forge-link")).toContainText("Deployments are reported to the repository.");
  const secret = (await page.getByTestId("hook-secret").textContent()) || "";
  const calls = async () => (await (await page.request.get(`${github}/calls`)).json()) as any[];
  const hook = (await calls()).find((c) => c.path === "/hooks");
  expect(hook.body.config.url).toBe(`${new URL(page.url()).origin}/hooks/github`);
  expect(hook.body.config.secret).toBe(secret);

  // A deployment (failing at once: development's agents do not exist) is reported.
  const id = await startFailingDeployment(page);
  await expect.poll(async () => (await calls()).filter((c) => c.body.state === "failure").length).toBe(2);
  await restoreDevelopment(page);
  await page.reload();
  const reports = page.getByRole("table", { name: "Reports to the repository" });
  await expect(reports.locator(`tr[data-state="delivered"]`).first()).toContainText(`#${id}`);
  await expect(reports).toContainText("failed");
  await page.screenshot({ path: "test-results/forge-link.png", fullPage: true });
  await page.locator("form.forge-form").getByRole("button", { name: "Unlink" }).click();
  await expect(page.locator(".forge-link")).toHaveCount(0);
});

// Where the project's releases are built: an administrator names build agents by label;
// a bad selector is explained; clearing it builds on the server again.
test("choose the agents that build the project's releases", async ({ page }) => {
  await page.goto("/projects/hello-web/settings");
  const field = page.getByLabel("Build agent labels");
  const row = page.locator("p.build-agents");
  await field.fill("role");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(row.getByRole("alert")).toContainText("is not key=value");
  await field.fill(" role = builder ");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(row.getByRole("status")).toContainText("saved");
  await page.reload();
  await expect(page.getByLabel("Build agent labels")).toHaveValue("role=builder");
  await page.getByLabel("Build agent labels").fill("");
  await page.locator("p.build-agents").getByRole("button", { name: "Save" }).click();
  await expect(page.locator("p.build-agents").getByRole("status")).toContainText("saved");
  await page.goto("/audit");
  await expect(page.locator("table")).toContainText("project.build_agents");
});
