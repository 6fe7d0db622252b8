// Signing in through the sign-in page with the local administrator's password (offered
// beside single sign-on): a wrong password is refused with a message, the right one
// opens the matrix. The session is saved for the other tests.
import { test as setup, expect } from "@playwright/test";
import * as fs from "fs";
import * as path from "path";
import { ADMIN_PASSWORD, SIGNED_IN } from "../constants";

setup("sign in as the local administrator", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in to Ferry" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Sign in with Company SSO" })).toBeVisible();
  await expect(page.locator(".local-note")).toHaveCount(0);
  await expect(page.getByLabel("Login")).toHaveValue("admin");

  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("wrong login or password");

  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.locator("a.who")).toHaveText("admin");
  await expect(page.locator(".mode")).toHaveCount(0);
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  await expect(page.locator('section.project[data-project="hello-web"]')).toBeVisible();

  fs.mkdirSync(path.dirname(SIGNED_IN), { recursive: true });
  await page.context().storageState({ path: SIGNED_IN });
});
