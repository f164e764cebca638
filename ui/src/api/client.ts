// The typed API client: paths and bodies come from schema.d.ts, which
// `make ui-client` generates from the server's OpenAPI document.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Problem = Schemas["ErrorModel"];

const tokenKey = "tributary.token";

// The bearer token, once signed in; requests go without one until then.
export const auth = {
  get(): string | null {
    try {
      return globalThis.localStorage?.getItem(tokenKey) ?? null;
    } catch {
      return null;
    }
  },
  set(token: string | null) {
    if (token) localStorage.setItem(tokenKey, token);
    else localStorage.removeItem(tokenKey);
  },
};

// ApiError carries the problem+json answer of a failed call.
export class ApiError extends Error {
  readonly status: number;
  readonly problem?: Partial<Problem>;
  constructor(status: number, problem?: Partial<Problem>, message?: string) {
    super(message ?? problem?.detail ?? problem?.title ?? `request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }
}

export function authHeaders(token = auth.get()): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function bearer(token: () => string | null): Middleware {
  return {
    onRequest({ request }) {
      const t = token();
      if (t && !request.headers.has("Authorization")) {
        request.headers.set("Authorization", `Bearer ${t}`);
      }
      return request;
    },
  };
}

export function createApi(baseUrl = "", fetchImpl?: typeof fetch, token: () => string | null = auth.get) {
  const client = createClient<paths>({ baseUrl, fetch: fetchImpl });
  client.use(bearer(token));
  return client;
}

export const api = createApi(globalThis.location?.origin ?? "");

// data returns the body of a successful call and throws ApiError otherwise,
// so TanStack Query sees failures as errors.
export async function data<T>(
  call: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (error !== undefined || !response.ok) {
    const problem = typeof error === "object" && error !== null ? (error as Problem) : undefined;
    throw new ApiError(response.status, problem);
  }
  return data as T;
}

// problemText lists every field error of a problem, with its location.
export function problemText(err: unknown): string {
  if (err instanceof ApiError) {
    const fields = (err.problem?.errors ?? [])
      .map((e) => (e.location ? `${e.location}: ${e.message}` : e.message))
      .filter(Boolean);
    return fields.length ? `${err.message} (${fields.join("; ")})` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
