// A deployment of the demo that fails at once: development is pointed at agents that
// do not exist while it is asked for. Used where a failure is what the test watches.
import { expect, Page } from "@playwright/test";

const AGENTS = "/api/v1/projects/hello-web/environments/development/agents";

/** Starts the failing deployment and returns its id; development's agents are restored
 * by `restoreDevelopment` once the test has seen what it needs. */
export async function startFailingDeployment(page: Page): Promise<number> {
  const headers = { origin: new URL(page.url()).origin };
  expect((await page.request.put(AGENTS, { headers, data: { selector: "role=nowhere" } })).status()).toBe(200);
  const releases = await (await page.request.get("/api/v1/projects/hello-web/releases")).json();
  const deploy = { project: "hello-web", release_id: releases[0].id, environment: "development" };
  const started = await page.request.post("/api/v1/deployments", { headers, data: deploy });
  expect(started.status()).toBe(202);
  return (await started.json()).id;
}

export async function restoreDevelopment(page: Page) {
  const headers = { origin: new URL(page.url()).origin };
  expect((await page.request.put(AGENTS, { headers, data: { selector: "" } })).status()).toBe(200);
}
