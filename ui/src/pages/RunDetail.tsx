import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { api, data, problemText, type Schemas } from "../api/client";
import { fmtDuration, fmtNumber, fmtTime, shortId } from "../api/format";
import { streamEvents } from "../api/sse";
import { Card, Empty, ErrorState, Loading, PageTitle, StatusBadge, TableScroll } from "../components/States";

const active = (s?: string) => s === "queued" || s === "running";

export function RunDetail() {
  const { id = "" } = useParams();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const run = useQuery({
    queryKey: ["run", id],
    queryFn: () => data(api.GET("/api/v1/runs/{id}", { params: { path: { id } } })),
    // The counters are the run's latest progress while it runs.
    refetchInterval: (q) => (q.state.data === undefined || active(q.state.data.status) ? 1000 : false),
  });
  const names = useQuery({
    queryKey: ["pipeline", run.data?.pipeline_id],
    enabled: !!run.data,
    queryFn: () => data(api.GET("/api/v1/pipelines/{id}", { params: { path: { id: run.data!.pipeline_id } } })),
  });
  const cancel = useMutation({
    mutationFn: () => data(api.POST("/api/v1/runs/{id}/cancel", { params: { path: { id } } })),
    onSuccess: () => qc.invalidateQueries({ queryKey: ["run", id] }),
  });
  const retry = useMutation({
    mutationFn: () => data(api.POST("/api/v1/runs/{id}/retry", { params: { path: { id } } })),
    onSuccess: (out) => navigate(`/runs/${out.id}`),
  });
  if (run.isPending) return <Loading label="Loading the run" />;
  if (run.isError) return <ErrorState error={run.error} onRetry={() => run.refetch()} />;
  const r = run.data;
  const canRetry = r.status === "failed" || r.status === "cancelled";
  return (
    <>
      <PageTitle
        actions={
          <div className="flex gap-2">
            <button
              type="button"
              disabled={!active(r.status) || cancel.isPending}
              onClick={() => cancel.mutate()}
              className="rounded border border-red-800 px-3 py-1 text-red-900 hover:bg-red-50 disabled:cursor-not-allowed disabled:border-slate-300 disabled:text-slate-600"
            >
              Cancel run
            </button>
            <button
              type="button"
              disabled={!canRetry || retry.isPending}
              onClick={() => retry.mutate()}
              className="rounded bg-sky-800 px-3 py-1 text-white hover:bg-sky-900 disabled:cursor-not-allowed disabled:bg-slate-300 disabled:text-slate-700"
            >
              Retry run
            </button>
          </div>
        }
      >
        Run <span className="font-mono">{shortId(r.id)}</span>
      </PageTitle>
      {(cancel.isError || retry.isError) && (
        <div role="alert" className="mb-4 rounded border border-red-300 bg-red-50 p-3 text-red-900">
          {problemText(cancel.error ?? retry.error)}
        </div>
      )}
      <div className="grid grid-cols-1 gap-4">
        <Card title="Summary">
          <dl className="grid grid-cols-2 gap-x-6 gap-y-2 lg:grid-cols-4">
            <Field label="Status">
              <span aria-live="polite" data-testid="run-status">
                <StatusBadge status={r.status} />
              </span>
            </Field>
            <Field label="Pipeline">
              <Link className="text-sky-800 underline" to={`/runs?pipeline=${r.pipeline_id}`}>
                {names.data?.name ?? shortId(r.pipeline_id)}
              </Link>{" "}
              (version {r.version})
            </Field>
            <Field label="Trigger">{r.trigger}{r.full_refresh ? ", full refresh" : ""}</Field>
            <Field label="Attempts">{r.attempts}</Field>
            <Field label="Created">{fmtTime(r.created_at)}</Field>
            <Field label="Started">{fmtTime(r.started_at)}</Field>
            <Field label="Finished">{fmtTime(r.finished_at)}</Field>
            <Field label="Duration">{fmtDuration(r.duration_seconds)}</Field>
          </dl>
          {r.error && <p className="mt-3 rounded bg-red-50 p-2 text-sm break-words text-red-900">{r.error}</p>}
        </Card>
        <Card title="Streams">
          <Streams streams={r.streams ?? []} />
        </Card>
        <Card title="Log">
          <LogTail runId={r.id} />
        </Card>
        <Card title="Quarantined rows">
          <Quarantine runId={r.id} done={!active(r.status)} />
        </Card>
      </div>
    </>
  );
}

function Field({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div>
      <dt className="text-sm text-slate-700">{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Streams({ streams }: { streams: Schemas["StreamDetail"][] }) {
  if (streams.length === 0) return <Empty>No stream has reported progress yet.</Empty>;
  const cols = ["read", "written", "quarantined", "filtered", "deduplicated"] as const;
  return (
    <TableScroll label="Rows per stream table">
      <table className="w-full text-left text-sm" data-testid="stream-counters">
        <caption className="sr-only">Rows per stream</caption>
        <thead className="bg-slate-100">
          <tr>
            <th scope="col" className="px-3 py-2">Stream</th>
            {cols.map((c) => (
              <th key={c} scope="col" className="px-3 py-2 text-right capitalize">
                {c}
              </th>
            ))}
            <th scope="col" className="px-3 py-2 text-right">Rows/s</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200">
          {streams.map((s) => (
            <tr key={s.name}>
              <th scope="row" className="px-3 py-2 font-medium">{s.name}</th>
              {cols.map((c) => (
                <td key={c} className="px-3 py-2 text-right tabular-nums" data-col={c}>
                  {fmtNumber(s[c])}
                </td>
              ))}
              <td className="px-3 py-2 text-right tabular-nums">{s.rows_per_second ? fmtNumber(Math.round(s.rows_per_second)) : "–"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableScroll>
  );
}

type LogState = { lines: Schemas["RunLog"][]; end?: string; error?: string };

// LogTail follows the run's log over server-sent events until the server
// sends the end event.
export function LogTail({ runId }: { runId: string }) {
  const [state, setState] = useState<LogState>({ lines: [] });
  const box = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const ctl = new AbortController();
    setState({ lines: [] });
    streamEvents(
      `/api/v1/runs/${encodeURIComponent(runId)}/logs/stream`,
      (e) => {
        if (e.event === "log") {
          const line = JSON.parse(e.data) as Schemas["RunLog"];
          setState((s) => (s.lines.some((l) => l.id === line.id) ? s : { ...s, lines: [...s.lines, line] }));
        } else if (e.event === "end") {
          const end = JSON.parse(e.data) as { status?: string };
          setState((s) => ({ ...s, end: end.status ?? "finished" }));
        }
      },
      ctl.signal,
    ).catch((err: unknown) => {
      if (!ctl.signal.aborted) setState((s) => ({ ...s, error: problemText(err) }));
    });
    return () => ctl.abort();
  }, [runId]);
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [state.lines.length]);
  return (
    <div>
      <p className="mb-2 text-sm text-slate-700" role="status">
        {state.error
          ? `The log stream stopped: ${state.error}`
          : state.end
            ? `Run finished: ${state.end}. ${state.lines.length} lines.`
            : `Following the log live: ${state.lines.length} lines so far.`}
      </p>
      {state.lines.length > 0 && (
        <ol
          ref={box}
          tabIndex={0}
          aria-label="Log lines"
          data-testid="log-lines"
          className="max-h-80 overflow-y-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100"
        >
          {state.lines.map((l) => (
            <li key={l.id} className="break-words whitespace-pre-wrap">
              <span className="text-slate-300">{new Date(l.at).toISOString().slice(11, 23)}</span>{" "}
              <span className={l.level === "ERROR" ? "text-red-300" : l.level === "WARN" ? "text-amber-200" : "text-sky-200"}>{l.level}</span>{" "}
              {l.message}
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

function Quarantine({ runId, done }: { runId: string; done: boolean }) {
  const q = useQuery({
    queryKey: ["quarantine", runId, done],
    queryFn: () => data(api.GET("/api/v1/runs/{id}/quarantine", { params: { path: { id: runId }, query: { limit: 100 } } })),
  });
  if (q.isPending) return <Loading label="Loading quarantined rows" />;
  if (q.isError) return <ErrorState error={q.error} onRetry={() => q.refetch()} />;
  const items = q.data.items ?? [];
  if (items.length === 0) return <Empty>No row was quarantined.</Empty>;
  return (
    <TableScroll label="Quarantined rows table">
      <table className="w-full text-left text-sm" data-testid="quarantine">
        <caption className="sr-only">Quarantined rows with their reasons</caption>
        <thead className="bg-slate-100">
          <tr>
            <th scope="col" className="px-3 py-2">Stream</th>
            <th scope="col" className="px-3 py-2">Step</th>
            <th scope="col" className="px-3 py-2">Reason</th>
            <th scope="col" className="px-3 py-2">Origin</th>
            <th scope="col" className="px-3 py-2">Row</th>
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-200">
          {items.map((row) => (
            <tr key={row.id} className="align-top">
              <td className="px-3 py-2">{row.stream}</td>
              <td className="px-3 py-2">{row.step}</td>
              <td className="min-w-48 px-3 py-2 text-red-900">{row.reason}</td>
              <td className="min-w-48 px-3 py-2 font-mono text-xs break-all">{row.origin}</td>
              <td className="min-w-64 px-3 py-2 font-mono text-xs break-all">{row.raw ?? JSON.stringify(row.row)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {q.data.truncated && <p className="mt-2 text-sm">Only the first {fmtNumber(q.data.max_kept)} rows were kept.</p>}
    </TableScroll>
  );
}
