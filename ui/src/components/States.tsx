import type { ReactNode } from "react";
import { ApiError, problemText } from "../api/client";

export function Loading({ label = "Loading" }: { label?: string }) {
  return (
    <p role="status" className="py-6 text-slate-600">
      <span aria-hidden="true" className="mr-2 inline-block h-3 w-3 animate-pulse rounded-full bg-sky-600" />
      {label}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="rounded border border-dashed border-slate-300 bg-white p-6 text-slate-700">{children}</p>;
}

// errorMessage says what a person can do about a failed call: a 403 is a
// missing permission, a 401 a missing sign-in, anything else the problem.
export function errorMessage(err: unknown): { title: string; detail: string } {
  if (err instanceof ApiError) {
    if (err.status === 403)
      return {
        title: "You do not have permission to see this",
        detail: "Your role does not allow this. Ask an administrator to grant you access.",
      };
    if (err.status === 401) return { title: "Sign in required", detail: "Your session has ended or you are not signed in." };
    if (err.status === 404) return { title: "Not found", detail: problemText(err) };
  }
  return { title: "Something went wrong", detail: problemText(err) };
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const { title, detail } = errorMessage(error);
  return (
    <div role="alert" className="rounded border border-red-300 bg-red-50 p-4 text-red-900">
      <p className="font-semibold">{title}</p>
      <p className="mt-1 text-sm">{detail}</p>
      {onRetry && (
        <button type="button" onClick={onRetry} className="mt-3 rounded bg-red-800 px-3 py-1 text-sm text-white hover:bg-red-900">
          Try again
        </button>
      )}
    </div>
  );
}

const badge: Record<string, string> = {
  succeeded: "bg-green-100 text-green-900 ring-green-700",
  failed: "bg-red-100 text-red-900 ring-red-700",
  running: "bg-sky-100 text-sky-900 ring-sky-700",
  queued: "bg-amber-100 text-amber-900 ring-amber-700",
  cancelled: "bg-slate-200 text-slate-900 ring-slate-600",
  ok: "bg-green-100 text-green-900 ring-green-700",
  degraded: "bg-amber-100 text-amber-900 ring-amber-700",
  down: "bg-red-100 text-red-900 ring-red-700",
};

export function StatusBadge({ status }: { status: string }) {
  return (
    <span
      data-status={status}
      className={`inline-block rounded-full px-2 py-0.5 text-xs font-medium ring-1 ${badge[status] ?? "bg-slate-100 text-slate-900 ring-slate-500"}`}
    >
      {status}
    </span>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-2">
      <h1 className="text-2xl font-semibold">{children}</h1>
      {actions}
    </div>
  );
}

export function Card({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section aria-label={title} className="min-w-0 rounded-lg border border-slate-200 bg-white p-4 shadow-sm">
      <h2 className="mb-2 text-lg font-semibold">{title}</h2>
      {children}
    </section>
  );
}

// TableScroll lets a wide table scroll sideways on a narrow screen; the
// region is focusable so keyboard users can scroll it too.
export function TableScroll({ label, boxed, children }: { label: string; boxed?: boolean; children: ReactNode }) {
  return (
    <div
      role="region"
      aria-label={label}
      tabIndex={0}
      className={`overflow-x-auto ${boxed ? "rounded-lg border border-slate-200 bg-white" : ""}`}
    >
      {children}
    </div>
  );
}
