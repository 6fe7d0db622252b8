// The account page: an API token is shown once, works against the REST API, is
// listed with its last use, and stops working when revoked. Signing out returns to
// the sign-in page.
import { test, expect } from "@playwright/test";
import { ADMIN_PASSWORD } from "../constants";

test("create, use and revoke an API token", async ({ page, request }) => {
  await page.goto("/account");
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();
  await page.getByLabel("Name").fill("ci-job");
  await page.getByLabel("Scope").selectOption("read");
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-token").textContent()) || "";
  expect(token).toMatch(/^ferry_/);
  const row = page.locator('tr[data-token="ci-job"]');
  await expect(row).toContainText("never");
  await expect(row).not.toContainText(token);

  const headers = { authorization: `Bearer ${token}` };
  const matrix = await request.get("/api/v1/matrix", { headers });
  expect(matrix.status()).toBe(200);
  await page.reload();
  await expect(row).not.toContainText("never");

  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");
  const refused = await request.fetch("/api/v1/matrix", { headers });
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error).toBe("unauthenticated");
});

test("sign out and back in", async ({ browser }) => {
  // A session of its own, so the shared one stays signed in.
  const context = await browser.newContext({ storageState: undefined });
  const page = await context.newPage();
  await page.goto("/");
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("a.who")).toHaveText("admin");
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in to Ferry" })).toBeVisible();
  const me = await page.request.get("/auth/me");
  expect((await me.json()).user).toBeNull();
  await context.close();
});
