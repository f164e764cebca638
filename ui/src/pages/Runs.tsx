import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";
import { api, data } from "../api/client";
import type { paths } from "../api/schema";
import { fmtDuration, fmtNumber, fmtTime, shortId } from "../api/format";
import { Empty, ErrorState, Loading, PageTitle, StatusBadge, TableScroll } from "../components/States";

type RunQuery = NonNullable<paths["/api/v1/runs"]["get"]["parameters"]["query"]>;
type RunStatus = NonNullable<RunQuery["status"]>[number];

const pageSize = 50;

const statuses = ["queued", "running", "succeeded", "failed", "cancelled"];
const triggers = ["manual", "schedule", "dependency", "replay"];

export function usePipelineNames() {
  return useQuery({
    queryKey: ["pipelines"],
    queryFn: () => data(api.GET("/api/v1/pipelines", { params: { query: { limit: 500 } } })),
    select: (list) => new Map((list.items ?? []).map((p) => [p.id, p.name])),
  });
}

export function Runs() {
  const [params, setParams] = useSearchParams();
  const filter = {
    pipeline: params.get("pipeline") ?? "",
    status: params.get("status") ?? "",
    trigger: params.get("trigger") ?? "",
  };
  const names = usePipelineNames();
  const [limit, setLimit] = useState(pageSize);
  const runs = useQuery({
    queryKey: ["runs", filter, limit],
    placeholderData: keepPreviousData,
    queryFn: () =>
      data(
        api.GET("/api/v1/runs", {
          params: {
            query: {
              pipeline: filter.pipeline || undefined,
              status: filter.status ? [filter.status as RunStatus] : undefined,
              trigger: filter.trigger || undefined,
              limit,
            },
          },
        }),
      ),
    refetchInterval: 3000,
  });
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
    setLimit(pageSize);
  };
  const items = runs.data?.items ?? [];
  return (
    <>
      <PageTitle>Runs</PageTitle>
      <form className="mb-4 flex flex-wrap gap-3" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <Select id="filter-pipeline" label="Pipeline" value={filter.pipeline} onChange={(v) => set("pipeline", v)}>
          <option value="">All pipelines</option>
          {[...(names.data ?? new Map<string, string>())].map(([id, name]) => (
            <option key={id} value={id}>
              {name}
            </option>
          ))}
        </Select>
        <Select id="filter-status" label="Status" value={filter.status} onChange={(v) => set("status", v)}>
          <option value="">Any status</option>
          {statuses.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </Select>
        <Select id="filter-trigger" label="Trigger" value={filter.trigger} onChange={(v) => set("trigger", v)}>
          <option value="">Any trigger</option>
          {triggers.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </Select>
      </form>
      {runs.isPending ? (
        <Loading label="Loading runs" />
      ) : runs.isError ? (
        <ErrorState error={runs.error} onRetry={() => runs.refetch()} />
      ) : items.length === 0 ? (
        <Empty>No runs match these filters.</Empty>
      ) : (
        <TableScroll label="Runs table" boxed>
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Runs, newest first</caption>
            <thead className="bg-slate-100">
              <tr>
                <th scope="col" className="px-3 py-2">Run</th>
                <th scope="col" className="px-3 py-2">Pipeline</th>
                <th scope="col" className="px-3 py-2">Status</th>
                <th scope="col" className="px-3 py-2">Trigger</th>
                <th scope="col" className="px-3 py-2">Created</th>
                <th scope="col" className="px-3 py-2">Duration</th>
                <th scope="col" className="px-3 py-2 text-right">Rows written</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200">
              {items.map((r) => (
                <tr key={r.id}>
                  <td className="px-3 py-2">
                    <Link to={`/runs/${r.id}`} className="font-mono text-sky-800 underline">
                      {shortId(r.id)}
                    </Link>
                  </td>
                  <td className="px-3 py-2">{names.data?.get(r.pipeline_id) ?? shortId(r.pipeline_id)}</td>
                  <td className="px-3 py-2">
                    <StatusBadge status={r.status} />
                  </td>
                  <td className="px-3 py-2">{r.trigger}</td>
                  <td className="px-3 py-2">{fmtTime(r.created_at)}</td>
                  <td className="px-3 py-2">{fmtDuration(r.duration_seconds)}</td>
                  <td className="px-3 py-2 text-right">
                    {fmtNumber((r.streams ?? []).reduce((n, s) => n + s.written, 0))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
      {runs.data?.next_offset != null && runs.data.next_offset > 0 && (
        <button
          type="button"
          onClick={() => setLimit((l) => l + pageSize)}
          disabled={runs.isFetching}
          className="mt-3 rounded border border-slate-400 bg-white px-3 py-1 hover:bg-slate-100"
        >
          Show more runs
        </button>
      )}
    </>
  );
}

export function Select({
  id,
  label,
  value,
  onChange,
  children,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  children: React.ReactNode;
}) {
  return (
    <div className="flex flex-col">
      <label htmlFor={id} className="text-sm font-medium text-slate-800">
        {label}
      </label>
      <select
        id={id}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        className="rounded border border-slate-400 bg-white px-2 py-1"
      >
        {children}
      </select>
    </div>
  );
}
