import { describe, expect, it } from "vitest";
import { createSSEParser, type SSEEvent } from "./sse";

describe("createSSEParser", () => {
  const cases: { name: string; chunks: string[]; want: SSEEvent[] }[] = [
    {
      name: "one event with id",
      chunks: ['id: 1\nevent: log\ndata: {"id":1}\n\n'],
      want: [{ id: "1", event: "log", data: '{"id":1}' }],
    },
    {
      name: "split across chunks anywhere",
      chunks: ["id: 7\nev", "ent: log\nda", "ta: hel", "lo\n", "\n"],
      want: [{ id: "7", event: "log", data: "hello" }],
    },
    {
      name: "multi-line data joined by newlines",
      chunks: ["data: a\ndata: b\n\n"],
      want: [{ event: "message", data: "a\nb", id: undefined }],
    },
    {
      name: "CRLF line endings, CR split from LF",
      chunks: ["event: end\r", "\ndata: {}\r\n\r\n"],
      want: [{ event: "end", data: "{}", id: undefined }],
    },
    {
      name: "comments and events without data are skipped",
      chunks: [": keep-alive\n\nevent: ping\n\n"],
      want: [],
    },
    {
      name: "the id carries over to later events",
      chunks: ["id: 3\ndata: x\n\ndata: y\n\n"],
      want: [
        { id: "3", event: "message", data: "x" },
        { id: "3", event: "message", data: "y" },
      ],
    },
    {
      name: "an unfinished event is not dispatched",
      chunks: ["data: partial\n"],
      want: [],
    },
    {
      name: "value without the optional space, field without colon",
      chunks: ["data:tight\ndata\n\n"],
      want: [{ event: "message", data: "tight\n", id: undefined }],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got: SSEEvent[] = [];
      const feed = createSSEParser((e) => got.push(e));
      c.chunks.forEach(feed);
      expect(got).toEqual(c.want);
    });
  }
});
