import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import { describe, expect, it } from "vitest";
import { Layout, navItems } from "./Layout";

function renderAt(path: string) {
  return render(
    <MemoryRouter initialEntries={[path]}>
      <Routes>
        <Route element={<Layout />}>
          <Route path="*" element={<h1>page</h1>} />
        </Route>
      </Routes>
    </MemoryRouter>,
  );
}

describe("Layout", () => {
  it("links every section in the main navigation", () => {
    renderAt("/");
    const nav = screen.getByRole("navigation", { name: "Main" });
    const links = [...nav.querySelectorAll("a")].map((a) => [a.textContent, a.getAttribute("href")]);
    expect(links).toEqual(navItems.map((i) => [i.label, i.to]));
    expect(navItems.map((i) => i.label)).toEqual(["Dashboard", "Pipelines", "Runs", "Connections", "Monitoring", "Analytics"]);
  });

  it.each([
    ["/", "Dashboard"],
    ["/runs/abc", "Runs"],
    ["/pipelines", "Pipelines"],
  ])("marks the current section at %s", (path, label) => {
    renderAt(path);
    const current = screen.getByRole("navigation", { name: "Main" }).querySelector('[aria-current="page"]');
    expect(current?.textContent).toBe(label);
  });

  it("opens and closes the narrow-screen menu, and closes it on navigation", async () => {
    const user = userEvent.setup();
    renderAt("/");
    const menu = screen.getByRole("button", { name: "Menu" });
    expect(menu.getAttribute("aria-expanded")).toBe("false");
    await user.click(menu);
    expect(menu.getAttribute("aria-expanded")).toBe("true");
    await user.click(screen.getByRole("link", { name: "Runs" }));
    expect(menu.getAttribute("aria-expanded")).toBe("false");
  });

  it("starts with a skip link to the main content", async () => {
    const user = userEvent.setup();
    renderAt("/");
    await user.tab();
    expect(document.activeElement?.textContent).toBe("Skip to content");
    expect(document.activeElement?.getAttribute("href")).toBe("#main");
    expect(document.getElementById("main")?.tagName).toBe("MAIN");
  });
});
