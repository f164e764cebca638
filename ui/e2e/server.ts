// Global setup of the browser tests: a real `tributary serve --demo` on a
// fresh data directory and a free loopback port, stopped at the end.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    baseURL: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => ok(port));
    });
  });
}

let child: ChildProcess | undefined;
let dataDir = "";

export async function setup(project: TestProject) {
  const bin = resolve(process.env.TRIBUTARY_BIN ?? "../bin/tributary");
  dataDir = mkdtempSync(join(tmpdir(), "tributary-ui-e2e-"));
  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  let output = "";
  child = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data", dataDir, "--demo"], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (b) => (output += b));
  child.stderr?.on("data", (b) => (output += b));
  const exited = new Promise<never>((_, fail) =>
    child!.once("exit", (code) => fail(new Error(`${bin} serve exited with ${code}:\n${output}`))),
  );
  const ready = (async () => {
    for (let i = 0; i < 300; i++) {
      try {
        const res = await fetch(`${baseURL}/readyz`);
        if (res.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${bin} serve not ready after 30 s:\n${output}`);
  })();
  await Promise.race([ready, exited]);
  child.removeAllListeners("exit");
  project.provide("baseURL", baseURL);
}

export async function teardown() {
  if (child && child.exitCode === null) {
    const done = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    // A clean stop is not under test here: a server still closing its
    // connections after 3 seconds is killed.
    await Promise.race([done, new Promise((r) => setTimeout(r, 3_000))]);
    if (child.exitCode === null) {
      child.kill("SIGKILL");
      await done;
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
