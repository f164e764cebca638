import { useQuery, type UseQueryResult } from "@tanstack/react-query";
import { Link } from "react-router";
import { api, data, type Schemas } from "../api/client";
import { fmtNumber, fmtPercent, fmtTime } from "../api/format";
import { SeriesChart } from "../components/SeriesChart";
import { Card, Empty, ErrorState, Loading, PageTitle, StatusBadge } from "../components/States";

const refresh = 5000;

export function Dashboard() {
  const dash = useQuery({
    queryKey: ["dashboard"],
    queryFn: () => data(api.GET("/api/v1/dashboard")),
    refetchInterval: refresh,
  });
  const rows = useHourly("rows_written");
  const runs = useHourly("runs");
  const health = useQuery({
    queryKey: ["health"],
    queryFn: () => data(api.GET("/api/v1/monitoring/health")),
    refetchInterval: refresh,
  });
  return (
    <>
      <PageTitle>Dashboard</PageTitle>
      {dash.isPending ? (
        <Loading label="Loading the dashboard" />
      ) : dash.isError ? (
        <ErrorState error={dash.error} onRetry={() => dash.refetch()} />
      ) : (
        <div className="grid grid-cols-1 gap-4">
          <dl className="grid grid-cols-2 gap-3 md:grid-cols-4" aria-label="Totals of the last 24 hours">
            <Stat label="Pipelines" value={`${fmtNumber(dash.data.totals.enabled_pipelines)} / ${fmtNumber(dash.data.totals.pipelines)} enabled`} />
            <Stat label="Connections" value={fmtNumber(dash.data.totals.connections)} />
            <Stat label="Runs succeeded" value={fmtNumber(dash.data.runs.succeeded)} />
            <Stat label="Runs failed" value={fmtNumber(dash.data.runs.failed)} />
            <Stat label="Running / queued" value={`${fmtNumber(dash.data.runs.running)} / ${fmtNumber(dash.data.runs.queued)}`} />
            <Stat label="Success rate" value={fmtPercent(dash.data.success_rate)} />
            <Stat label="Rows written" value={fmtNumber(dash.data.rows.written)} />
            <Stat label="Rows quarantined" value={fmtNumber(dash.data.rows.quarantined)} />
          </dl>
          <SystemStatus health={health} />
          <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
            <HourlyChart title="Runs per hour" q={runs} />
            <HourlyChart title="Rows written per hour" q={rows} />
          </div>
          <div className="grid grid-cols-1 gap-4 md:grid-cols-2">
            <Card title="Failing pipelines">
              {(dash.data.failing_pipelines ?? []).length === 0 ? (
                <Empty>No pipeline failed in the last 24 hours.</Empty>
              ) : (
                <ul className="divide-y divide-slate-200">
                  {(dash.data.failing_pipelines ?? []).map((f) => (
                    <li key={f.pipeline_id} className="py-2">
                      <Link className="text-sky-800 underline" to={`/runs/${f.run_id}`}>
                        {f.pipeline}
                      </Link>{" "}
                      <span className="text-sm text-slate-700">failed at {fmtTime(f.failed_at)}</span>
                      {f.error && <p className="text-sm break-words text-red-900">{f.error}</p>}
                    </li>
                  ))}
                </ul>
              )}
            </Card>
            <Card title="Recent activity">
              {(dash.data.recent_activity ?? []).length === 0 ? (
                <Empty>No runs yet. Trigger one from the Pipelines page.</Empty>
              ) : (
                <ul className="divide-y divide-slate-200">
                  {(dash.data.recent_activity ?? []).map((a) => (
                    <li key={a.run_id} className="flex flex-wrap items-center gap-2 py-2">
                      <StatusBadge status={a.status} />
                      <Link className="text-sky-800 underline" to={`/runs/${a.run_id}`}>
                        {a.pipeline}
                      </Link>
                      <span className="text-sm text-slate-700">
                        {a.trigger}, {fmtTime(a.created_at)}, {fmtNumber(a.rows_written)} rows
                      </span>
                    </li>
                  ))}
                </ul>
              )}
            </Card>
          </div>
        </div>
      )}
    </>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-3 shadow-sm">
      <dt className="text-sm text-slate-700">{label}</dt>
      <dd className="text-xl font-semibold">{value}</dd>
    </div>
  );
}

function useHourly(metric: "runs" | "rows_written") {
  return useQuery({
    queryKey: ["timeseries", metric, "hour"],
    queryFn: () => data(api.GET("/api/v1/analytics/timeseries", { params: { query: { metric, bucket: "hour" } } })),
    refetchInterval: refresh,
  });
}

function HourlyChart({ title, q }: { title: string; q: UseQueryResult<Schemas["TimeSeries"]> }) {
  return (
    <Card title={title}>
      {q.isPending ? (
        <Loading label="Loading the chart" />
      ) : q.isError ? (
        <ErrorState error={q.error} />
      ) : (
        <SeriesChart title={title} series={q.data} bucket="hour" />
      )}
    </Card>
  );
}

function SystemStatus({ health }: { health: UseQueryResult<Schemas["Health"]> }) {
  if (health.isPending) return <Loading label="Loading system status" />;
  if (health.isError) return <ErrorState error={health.error} />;
  const h = health.data;
  const alive = (h.workers ?? []).filter((w) => w.alive).length;
  return (
    <p className="flex flex-wrap items-center gap-2 rounded-lg border border-slate-200 bg-white p-3 shadow-sm" data-testid="system-status">
      <span className="font-medium">System</span>
      <StatusBadge status={h.status} />
      <span className="text-sm text-slate-700">
        {alive} worker {alive === 1 ? "process" : "processes"} alive, {fmtNumber(h.queue.waiting)} runs waiting.
      </span>
      <Link className="text-sm text-sky-800 underline" to="/monitoring">
        Monitoring
      </Link>
    </p>
  );
}
