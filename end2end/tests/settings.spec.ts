// A project's variables and secrets in its settings page: a secret is accepted, then
// shown only as set; a bad name is refused with its reason.
import { test, expect } from "@playwright/test";

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
