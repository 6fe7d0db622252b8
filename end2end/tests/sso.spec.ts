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
