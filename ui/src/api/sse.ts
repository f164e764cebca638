// Server-sent events over fetch rather than EventSource, so the request can
// carry the Authorization header that EventSource cannot set.
import { authHeaders } from "./client";

export interface SSEEvent {
  event: string;
  data: string;
  id?: string;
}

// createSSEParser returns a function fed with text chunks as they arrive;
// it calls onEvent for each complete event (per the WHATWG EventSource
// format: fields up to a blank line, data lines joined by newlines).
export function createSSEParser(onEvent: (e: SSEEvent) => void): (chunk: string) => void {
  let buf = "";
  let event = "";
  let data: string[] = [];
  let id: string | undefined;
  const dispatch = () => {
    if (data.length > 0) onEvent({ event: event || "message", data: data.join("\n"), id });
    event = "";
    data = [];
  };
  return (chunk: string) => {
    buf += chunk;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buf);
      // A trailing \r may be the first half of \r\n: wait for more.
      if (!m || (m[0] === "\r" && m.index === buf.length - 1)) return;
      const line = buf.slice(0, m.index);
      buf = buf.slice(m.index + m[0].length);
      if (line === "") {
        dispatch();
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
  };
}

// streamEvents reads url until the server closes it or signal aborts.
export async function streamEvents(
  url: string,
  onEvent: (e: SSEEvent) => void,
  signal?: AbortSignal,
  fetchImpl: typeof fetch = fetch,
): Promise<void> {
  const res = await fetchImpl(url, { headers: { Accept: "text/event-stream", ...authHeaders() }, signal });
  if (!res.ok || !res.body) throw new Error(`event stream ${url}: status ${res.status}`);
  const parse = createSSEParser(onEvent);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parse(value);
  }
  parse("\n\n");
}
