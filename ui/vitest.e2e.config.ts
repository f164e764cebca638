import { defineConfig } from "vitest/config";

// The browser tests: a real `tributary serve --demo` (TRIBUTARY_BIN, or
// ../bin/tributary) and Debian's Chromium (CHROMIUM, or /usr/bin/chromium)
// driven by playwright-core. `make ui-e2e` builds the UI and the binary first.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    globalSetup: ["e2e/server.ts"],
    testTimeout: 90_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
