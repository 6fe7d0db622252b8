// Single sign-on through a real OpenID Connect provider (npm oidc-provider): the
// button leads to the provider's sign-in and consent pages and back, signed in, with
// the role the provider's groups map to.
import { test, expect, Browser } from "@playwright/test";

async function signInWithSso(browser: Browser, login: string) {
  const context = await browser.newContext({ storageState: undefined });
  const page = await context.newPage();
  await page.goto("/");
  await page.getByRole("link", { name: "Sign in with Company SSO" }).click();
  await expect(page).toHaveURL(/127\.0\.0\.1:18090/);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill("any password");
  await page.getByRole("button", { name: "Sign-in" }).click();
  await page.getByRole("button", { name: "Continue" }).click();
  await expect(page.locator("a.who")).toHaveText(login);
  return { context, page };
}

test("sign in with the company's SSO and get the mapped role", async ({ browser }) => {
  const { context, page } = await signInWithSso(browser, "dev-alex");
  await expect(page.locator("a.who")).toHaveAttribute("data-role", "deployer");
  await expect(page.locator('section.project[data-project="hello-web"]')).toBeVisible();
  await page.locator("a.who").click();
  await expect(page.getByText("signed in with oidc:sso")).toBeVisible();
  await context.close();

  const other = await signInWithSso(browser, "visitor");
  await expect(other.page.locator("a.who")).toHaveAttribute("data-role", "viewer");
  // A viewer is refused by the server, whatever the page offers.
  const refused = await other.page.request.post("/rpc/start_deployment", {
    form: { project: "hello-web", release_id: "1", environment: "development" },
    headers: { origin: "http://127.0.0.1:18080" },
  });
  expect(refused.status()).toBe(403);
  await other.context.close();
});

test("production needs an approval: set in settings, asked by a deployer, given by the admin", async ({ page, browser, request }) => {
  // Protect production in the settings page; a value out of range is named by its field.
  await page.goto("/projects/hello-web/settings");
  const production = page.locator('table.protection tr[data-env="production"]');
  await production.getByLabel("Approvals for production").fill("11");
  await production.getByRole("button", { name: "Save" }).click();
  await expect(production.locator(".field-error")).toContainText("between 0 and 10");
  await production.getByLabel("Approvals for production").fill("1");
  await production.getByRole("button", { name: "Save" }).click();
  await expect(production.getByRole("status")).toContainText("saved");

  // 1.1.0 runs in staging, so it may go to production.
  const matrix = await (await request.get("/api/v1/matrix")).json();
  const release = matrix.rows.find((r: any) => r.project.slug === "hello-web").releases.find((r: any) => r.version === "1.1.0");
  for (const environment of ["development", "staging"]) {
    const started = await request.post("/api/v1/deployments", {
      data: { project: "hello-web", release_id: release.id, environment },
    });
    expect(started.status()).toBe(202);
    const id = (await started.json()).id;
    await expect.poll(async () => (await (await request.get(`/api/v1/deployments/${id}`)).json()).deployment.state, {
      timeout: 60_000,
    }).toBe("succeeded");
  }

  // A deployer asks; the dialog says production is protected.
  const { context, page: dev } = await signInWithSso(browser, "dev-sam");
  await dev.locator('section.project[data-project="hello-web"] td.cell[data-env="staging"]').getByRole("button", { name: /Promote/ }).click();
  await expect(dev.getByTestId("protected")).toContainText("1 approval(s)");
  await dev.getByRole("button", { name: "Confirm promotion" }).click();
  await expect(dev).toHaveURL(/\/deployments\/\d+$/);
  await expect(dev.getByTestId("deployment-state")).toHaveAttribute("data-state", "awaiting_approval");
  await expect(dev.locator("section.approval")).toContainText("can approve: admin");
  await expect(dev.getByRole("button", { name: "Approve" })).toHaveCount(0);
  const url = dev.url();
  await context.close();

  // The admin approves; the deployment runs.
  await page.goto(url);
  await page.locator("section.approval").getByLabel("Comment").fill("ship it");
  await page.getByRole("button", { name: "Approve" }).click();
  await expect(page.locator("section.approval li")).toContainText("admin ✓ approved");
  await expect(page.getByTestId("deployment-state")).toHaveAttribute("data-state", "succeeded", { timeout: 60_000 });
});

test("an administrator changes a role and finds it in the audit log", async ({ page, request }) => {
  await page.goto("/users");
  const visitor = page.locator('tr[data-user="visitor"]');
  await expect(visitor).toContainText("oidc:sso");
  await visitor.getByLabel("Role of visitor").selectOption("deployer");
  await expect(page.locator("main").getByRole("status")).toHaveText("visitor is now deployer");

  await page.getByRole("link", { name: "Audit" }).click();
  await page.getByLabel("Action").fill("user.role");
  await page.getByRole("button", { name: "Filter" }).click();
  const rows = page.locator("table.audit tbody tr");
  await expect(rows.first()).toContainText("visitor");
  await expect(rows.first()).toContainText('"after":"deployer"');
  for (const action of await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")))) {
    expect(action).toBe("user.role");
  }
  const href = (await page.getByRole("link", { name: "Export JSON lines" }).getAttribute("href")) || "";
  expect(href).toContain("format=jsonl");
  const exported = await (await request.get(href)).text();
  const lines = exported.trim().split("\n").map((l) => JSON.parse(l));
  expect(lines.length).toBeGreaterThan(0);
  expect(lines.every((l) => l.action === "user.role")).toBe(true);
});
