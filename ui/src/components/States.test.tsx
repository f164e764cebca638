import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ApiError, problemText } from "../api/client";
import { ErrorState, StatusBadge, errorMessage } from "./States";

describe("errorMessage", () => {
  const cases = [
    { name: "403 says permission", err: new ApiError(403, { title: "Forbidden", status: 403 }), title: "You do not have permission to see this" },
    { name: "401 says sign in", err: new ApiError(401), title: "Sign in required" },
    { name: "404 says not found with the detail", err: new ApiError(404, { detail: "run x not found" }), title: "Not found", detail: "run x not found" },
    { name: "500 shows the problem detail", err: new ApiError(500, { detail: "store down" }), title: "Something went wrong", detail: "store down" },
    { name: "network error shows its message", err: new TypeError("Failed to fetch"), title: "Something went wrong", detail: "Failed to fetch" },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = errorMessage(c.err);
      expect(got.title).toBe(c.title);
      if (c.detail) expect(got.detail).toBe(c.detail);
    });
  }
});

describe("problemText", () => {
  it("lists field errors with their locations", () => {
    const err = new ApiError(422, {
      title: "Unprocessable Entity",
      detail: "validation failed",
      errors: [
        { message: "expected one of runs, rows_written", location: "query.metric" },
        { message: "must be positive", location: "query.limit" },
      ],
    });
    expect(problemText(err)).toBe("validation failed (query.metric: expected one of runs, rows_written; query.limit: must be positive)");
  });
  it("falls back to the status without a body", () => {
    expect(problemText(new ApiError(502))).toBe("request failed with status 502");
  });
});

describe("ErrorState", () => {
  it("renders a 403 as an alert with the permission message", () => {
    render(<ErrorState error={new ApiError(403, { title: "Forbidden", detail: "role viewer" })} />);
    const alert = screen.getByRole("alert");
    expect(alert.textContent).toContain("You do not have permission to see this");
    expect(alert.textContent).toContain("Ask an administrator");
    expect(screen.queryByRole("button")).toBeNull();
  });
  it("offers a retry when it can", () => {
    let tried = 0;
    render(<ErrorState error={new Error("boom")} onRetry={() => tried++} />);
    screen.getByRole("button", { name: "Try again" }).click();
    expect(tried).toBe(1);
  });
});

describe("StatusBadge", () => {
  it.each(["queued", "running", "succeeded", "failed", "cancelled", "unknown"])("shows %s as text", (status) => {
    render(<StatusBadge status={status} />);
    expect(screen.getByText(status).getAttribute("data-status")).toBe(status);
  });
});
