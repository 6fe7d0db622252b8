// What the browser enforces for Ferry: its Content-Security-Policy lets every view run
// (the wasm, the lazily loaded pieces, styles) without a single violation, and a page
// of another site on the same host (an app Ferry deployed on another port) cannot
// open Ferry's websocket with the signed-in user's cookie.
import { test, expect } from "@playwright/test";
import * as http from "http";
import { AddressInfo } from "net";

test("every view runs under the Content-Security-Policy without a violation", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) violations.push(message.text());
  });
  await page.exposeFunction("reportViolation", (text: string) => violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as unknown as { reportViolation: (t: string) => void }).reportViolation(
        `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`,
      ),
    );
  });
  const response = await page.goto("/");
  const policy = response!.headers()["content-security-policy"];
  expect(policy).toContain("'wasm-unsafe-eval'");
  expect(policy).toContain("frame-ancestors 'none'");
  expect(policy).not.toMatch(/script-src[^;]*'unsafe-inline'/);
  expect(response!.headers()["x-content-type-options"]).toBe("nosniff");
  await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
  // Each lazily loaded piece of the interface, and the views that set style attributes.
  for (const view of ["/history", "/insights", "/agents", "/projects/hello-web/settings", "/account"]) {
    await page.goto(view);
    await expect(page.locator('.live[data-connected="true"]')).toBeVisible();
    await expect(page.getByText("Loading…")).toHaveCount(0);
  }
  expect(violations).toEqual([]);
});

test("a page on another port of the same host cannot open Ferry's websocket", async ({ page, baseURL }) => {
  // A stand-in for an app Ferry deployed next to itself: same host, other port, so the
  // browser sends Ferry's cookie along (cookies do not care about ports).
  const neighbour = http.createServer((_, res) => res.end("<!DOCTYPE html><title>neighbour</title><p>app</p>"));
  await new Promise<void>((resolve) => neighbour.listen(0, "127.0.0.1", resolve));
  try {
    const port = (neighbour.address() as AddressInfo).port;
    await page.goto(`http://127.0.0.1:${port}/`);
    const socketUrl = baseURL!.replace(/^http/, "ws") + "/ws";
    const outcome = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onmessage = (m) => resolve(`opened and received ${String(m.data).slice(0, 80)}`);
          socket.onerror = () => resolve("refused");
          socket.onclose = () => resolve("refused");
        }),
      socketUrl,
    );
    expect(outcome).toBe("refused");

    // From Ferry's own page, the same websocket opens and says hello.
    await page.goto("/");
    const own = await page.evaluate(
      (url) =>
        new Promise<string>((resolve) => {
          const socket = new WebSocket(url);
          socket.onmessage = (m) => resolve(String(m.data).includes("hello") ? "hello" : String(m.data));
          socket.onerror = () => resolve("refused");
        }),
      socketUrl,
    );
    expect(own).toBe("hello");
  } finally {
    neighbour.close();
  }
});
