import { useQuery } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { fmtDuration, fmtNumber, fmtTime } from "../api/format";
import { Card, Empty, ErrorState, Loading, PageTitle, StatusBadge, TableScroll } from "../components/States";

export function Monitoring() {
  const health = useQuery({
    queryKey: ["health"],
    queryFn: () => data(api.GET("/api/v1/monitoring/health")),
    refetchInterval: 5000,
  });
  if (health.isPending)
    return (
      <>
        <PageTitle>Monitoring</PageTitle>
        <Loading label="Loading system health" />
      </>
    );
  if (health.isError)
    return (
      <>
        <PageTitle>Monitoring</PageTitle>
        <ErrorState error={health.error} onRetry={() => health.refetch()} />
      </>
    );
  const h = health.data;
  const workers = h.workers ?? [];
  const gib = (b?: number) => (b == null ? "–" : `${(b / 2 ** 30).toFixed(1)} GiB`);
  return (
    <>
      <PageTitle>Monitoring</PageTitle>
      <div className="grid grid-cols-1 gap-4">
        <Card title="System">
          <dl className="grid grid-cols-1 gap-3 sm:grid-cols-2 lg:grid-cols-4">
            <div>
              <dt className="text-sm text-slate-700">Status</dt>
              <dd>
                <StatusBadge status={h.status} />
              </dd>
            </div>
            <div>
              <dt className="text-sm text-slate-700">Metadata store</dt>
              <dd>{h.store.ok ? `answers in ${h.store.latency_ms.toFixed(1)} ms` : `unavailable: ${h.store.error ?? ""}`}</dd>
            </div>
            <div>
              <dt className="text-sm text-slate-700">Queue</dt>
              <dd>
                {h.queue.ok
                  ? `${fmtNumber(h.queue.waiting)} waiting, oldest ${fmtDuration(h.queue.oldest_waiting_age_seconds)}`
                  : `unavailable: ${h.queue.error ?? ""}`}
              </dd>
            </div>
            <div>
              <dt className="text-sm text-slate-700">Disk of the data directory</dt>
              <dd>{h.disk ? `${gib(h.disk.free_bytes)} free of ${gib(h.disk.total_bytes)}` : "–"}</dd>
            </div>
            <div>
              <dt className="text-sm text-slate-700">Version</dt>
              <dd>{h.version}</dd>
            </div>
          </dl>
        </Card>
        <Card title="Worker processes">
          {workers.length === 0 ? (
            <Empty>No worker process has reported; runs stay queued until one starts.</Empty>
          ) : (
            <TableScroll label="Worker processes table">
              <table className="w-full text-left text-sm">
                <caption className="sr-only">Worker processes</caption>
                <thead className="bg-slate-100">
                  <tr>
                    <th scope="col" className="px-3 py-2">Host and process</th>
                    <th scope="col" className="px-3 py-2">State</th>
                    <th scope="col" className="px-3 py-2 text-right">Workers</th>
                    <th scope="col" className="px-3 py-2 text-right">Runs in flight</th>
                    <th scope="col" className="px-3 py-2">Last seen</th>
                  </tr>
                </thead>
                <tbody className="divide-y divide-slate-200">
                  {workers.map((w) => (
                    <tr key={w.id}>
                      <th scope="row" className="px-3 py-2 font-medium">
                        {w.host} pid {w.pid}
                      </th>
                      <td className="px-3 py-2">{w.alive ? "alive" : w.stopped_at ? "stopped" : "lost"}</td>
                      <td className="px-3 py-2 text-right">{w.workers}</td>
                      <td className="px-3 py-2 text-right">{w.runs_in_flight}</td>
                      <td className="px-3 py-2">{fmtTime(w.last_seen)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableScroll>
          )}
        </Card>
      </div>
    </>
  );
}
