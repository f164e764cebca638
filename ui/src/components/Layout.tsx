import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";

export const navItems = [
  { to: "/", label: "Dashboard" },
  { to: "/pipelines", label: "Pipelines" },
  { to: "/runs", label: "Runs" },
  { to: "/connections", label: "Connections" },
  { to: "/monitoring", label: "Monitoring" },
  { to: "/analytics", label: "Analytics" },
];

export function Layout() {
  const [open, setOpen] = useState(false);
  const location = useLocation();
  // A followed link closes the narrow-screen menu.
  useEffect(() => setOpen(false), [location.pathname]);
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-10 focus:rounded focus:bg-white focus:p-2">
        Skip to content
      </a>
      <header className="bg-slate-900 text-white">
        <div className="mx-auto flex max-w-7xl flex-wrap items-center justify-between gap-2 px-4 py-3">
          <NavLink to="/" className="text-lg font-semibold tracking-tight">
            Tributary
          </NavLink>
          <button
            type="button"
            className="rounded border border-slate-500 px-3 py-1 md:hidden"
            aria-expanded={open}
            aria-controls="primary-nav"
            onClick={() => setOpen((o) => !o)}
          >
            Menu
          </button>
          <nav id="primary-nav" aria-label="Main" className={`${open ? "block" : "hidden"} w-full md:block md:w-auto`}>
            <ul className="flex flex-col gap-1 md:flex-row md:gap-2">
              {navItems.map((item) => (
                <li key={item.to}>
                  <NavLink
                    to={item.to}
                    end={item.to === "/"}
                    className={({ isActive }) =>
                      `block rounded px-3 py-2 ${isActive ? "bg-slate-100 text-slate-900" : "text-slate-100 hover:bg-slate-700"}`
                    }
                  >
                    {item.label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto max-w-7xl px-4 py-6 focus:outline-none">
        <Outlet />
      </main>
    </div>
  );
}
