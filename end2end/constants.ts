// Shared by the Playwright configuration and the tests.
import * as path from "path";

// The local administrator's password for this run; auth.setup.ts signs in with it
// through the sign-in page and saves the session for the other tests.
export const ADMIN_PASSWORD = "e2e-admin-password";
export const SIGNED_IN = path.join(__dirname, ".auth", "admin.json");
