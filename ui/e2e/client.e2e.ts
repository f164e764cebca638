// The typed API client and the event-stream reader against a real server.
import { describe, expect, inject, it } from "vitest";
import { ApiError, createApi, data, problemText } from "../src/api/client";
import { streamEvents, type SSEEvent } from "../src/api/sse";

const baseURL = inject("baseURL");

type Call = (api: ReturnType<typeof createApi>) => Promise<{ data?: unknown; error?: unknown; response: Response }>;

async function demoRun(api: ReturnType<typeof createApi>) {
  for (let i = 0; i < 300; i++) {
    const runs = await data(api.GET("/api/v1/runs", { params: { query: { limit: 5, sort: "created_at" } } }));
    const first = runs.items?.[0];
    if (first && first.status === "succeeded") return first;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the demo run did not succeed in 30 s");
}

describe("API client against tributary serve", () => {
  it("reads typed lists and details", async () => {
    const api = createApi(baseURL, undefined, () => null);
    const run = await demoRun(api);
    const detail = await data(api.GET("/api/v1/runs/{id}", { params: { path: { id: run.id } } }));
    expect(detail.id).toBe(run.id);
    expect(detail.streams?.[0]).toMatchObject({ name: "people", read: 1003, written: 1000, quarantined: 3 });
    const pipelines = await data(api.GET("/api/v1/pipelines"));
    expect(pipelines.items?.map((p) => p.name)).toContain("people-to-sqlite");
  });

  it.each<{ name: string; call: Call; status: number; text: RegExp }>([
    { name: "missing run", call: (api) => api.GET("/api/v1/runs/{id}", { params: { path: { id: "00000000-0000-0000-0000-000000000000" } } }), status: 404, text: /not found/i },
    {
      name: "bad query parameter",
      // The server, not the type checker, is under test here.
      call: (api) =>
        api.GET("/api/v1/analytics/timeseries", { params: { query: { metric: "bogus" as "runs" } } }),
      status: 422,
      text: /query\.metric: expected value to be one of/,
    },
  ])("turns a problem answer into ApiError: $name", async ({ call, status, text }) => {
    const api = createApi(baseURL, undefined, () => null);
    const err = await data(call(api)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(status);
    expect(problemText(err)).toMatch(text);
  });

  it("sends the bearer token when there is one, and none otherwise", async () => {
    const seen: (string | null)[] = [];
    const recording: typeof fetch = (input, init) => {
      seen.push(new Request(input, init).headers.get("Authorization"));
      return fetch(input, init);
    };
    let token: string | null = "tok-123";
    const api = createApi(baseURL, recording, () => token);
    await data(api.GET("/api/v1/pipelines"));
    token = null;
    await data(api.GET("/api/v1/pipelines"));
    expect(seen).toEqual(["Bearer tok-123", null]);
  });

  it("follows a finished run's log to its end event", async () => {
    const run = await demoRun(createApi(baseURL, undefined, () => null));
    const events: SSEEvent[] = [];
    await streamEvents(`${baseURL}/api/v1/runs/${run.id}/logs/stream`, (e) => events.push(e));
    const logs = events.filter((e) => e.event === "log");
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.map((e) => Number(e.id))).toEqual(logs.map((e) => (JSON.parse(e.data) as { id: number }).id));
    expect(logs.some((e) => (JSON.parse(e.data) as { message: string }).message.includes("run finished"))).toBe(true);
    const end = events.at(-1);
    expect(end?.event).toBe("end");
    expect(JSON.parse(end!.data)).toMatchObject({ status: "succeeded" });
  });
});
