import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { api, data, problemText } from "../api/client";
import { fmtTime, shortId } from "../api/format";
import { Empty, ErrorState, Loading, PageTitle, TableScroll } from "../components/States";

type Notice = { kind: "ok" | "error"; pipeline: string; text: string; runId?: string };

export function Pipelines() {
  const qc = useQueryClient();
  const [search, setSearch] = useState("");
  const [notice, setNotice] = useState<Notice | null>(null);
  const list = useQuery({
    queryKey: ["pipelines"],
    queryFn: () => data(api.GET("/api/v1/pipelines", { params: { query: { limit: 500 } } })),
  });
  const trigger = useMutation({
    mutationFn: (p: { id: string; name: string }) =>
      data(api.POST("/api/v1/pipelines/{id}/runs", { params: { path: { id: p.id } } })),
    onSuccess: (out, p) => {
      setNotice({ kind: "ok", pipeline: p.name, text: `Run ${shortId(out.id)} of ${p.name} queued.`, runId: out.id });
      qc.invalidateQueries({ queryKey: ["runs"] });
      qc.invalidateQueries({ queryKey: ["dashboard"] });
    },
    onError: (err, p) => setNotice({ kind: "error", pipeline: p.name, text: `${p.name} could not be run: ${problemText(err)}` }),
  });
  const items = (list.data?.items ?? []).filter((p) => p.name.toLowerCase().includes(search.trim().toLowerCase()));
  return (
    <>
      <PageTitle>Pipelines</PageTitle>
      <div className="mb-4">
        <label htmlFor="pipeline-search" className="block text-sm font-medium text-slate-800">
          Search pipelines
        </label>
        <input
          id="pipeline-search"
          type="search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          className="w-full max-w-sm rounded border border-slate-400 px-2 py-1"
        />
      </div>
      <div aria-live="polite">
        {notice && (
          <p
            role={notice.kind === "error" ? "alert" : "status"}
            className={`mb-4 rounded border p-3 ${notice.kind === "ok" ? "border-green-300 bg-green-50 text-green-900" : "border-red-300 bg-red-50 text-red-900"}`}
          >
            {notice.text}{" "}
            {notice.runId && (
              <Link className="underline" to={`/runs/${notice.runId}`}>
                Open the run
              </Link>
            )}
          </p>
        )}
      </div>
      {list.isPending ? (
        <Loading label="Loading pipelines" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => list.refetch()} />
      ) : items.length === 0 ? (
        <Empty>{search ? "No pipeline matches this search." : "No pipelines yet. Create one with `tributary apply` or the API."}</Empty>
      ) : (
        <TableScroll label="Pipelines table" boxed>
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Pipelines</caption>
            <thead className="bg-slate-100">
              <tr>
                <th scope="col" className="px-3 py-2">Name</th>
                <th scope="col" className="px-3 py-2">Version</th>
                <th scope="col" className="px-3 py-2">State</th>
                <th scope="col" className="hidden px-3 py-2 sm:table-cell">Updated</th>
                <th scope="col" className="px-3 py-2">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200">
              {items.map((p) => (
                <tr key={p.id}>
                  <th scope="row" className="px-3 py-2 font-medium">
                    <Link className="text-sky-800 underline" to={`/runs?pipeline=${p.id}`}>
                      {p.name}
                    </Link>
                  </th>
                  <td className="px-3 py-2">{p.version}</td>
                  <td className="px-3 py-2">{p.enabled ? "enabled" : "disabled"}</td>
                  <td className="hidden px-3 py-2 sm:table-cell">{fmtTime(p.updated_at)}</td>
                  <td className="px-3 py-2 text-right">
                    <button
                      type="button"
                      disabled={trigger.isPending && trigger.variables?.id === p.id}
                      onClick={() => trigger.mutate({ id: p.id, name: p.name })}
                      className="rounded bg-sky-800 px-3 py-1 text-white hover:bg-sky-900 disabled:bg-slate-300 disabled:text-slate-700"
                    >
                      Run now<span className="sr-only"> for {p.name}</span>
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </>
  );
}
