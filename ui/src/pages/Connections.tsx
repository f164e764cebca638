import { useQuery } from "@tanstack/react-query";
import { api, data } from "../api/client";
import { fmtTime } from "../api/format";
import { Empty, ErrorState, Loading, PageTitle, TableScroll } from "../components/States";

export function Connections() {
  const list = useQuery({
    queryKey: ["connections"],
    queryFn: () => data(api.GET("/api/v1/connections", { params: { query: { limit: 500 } } })),
  });
  const items = list.data?.items ?? [];
  return (
    <>
      <PageTitle>Connections</PageTitle>
      {list.isPending ? (
        <Loading label="Loading connections" />
      ) : list.isError ? (
        <ErrorState error={list.error} onRetry={() => list.refetch()} />
      ) : items.length === 0 ? (
        <Empty>
          No saved connections. Pipelines can name their source and destination inline; a saved connection lets several pipelines share
          one, with its secrets stored encrypted.
        </Empty>
      ) : (
        <TableScroll label="Connections table" boxed>
          <table className="w-full text-left text-sm">
            <caption className="sr-only">Connections</caption>
            <thead className="bg-slate-100">
              <tr>
                <th scope="col" className="px-3 py-2">Name</th>
                <th scope="col" className="px-3 py-2">Connector</th>
                <th scope="col" className="px-3 py-2">Created</th>
                <th scope="col" className="px-3 py-2">Updated</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-200">
              {items.map((c) => (
                <tr key={c.id}>
                  <th scope="row" className="px-3 py-2 font-medium">{c.name}</th>
                  <td className="px-3 py-2">{c.connector}</td>
                  <td className="px-3 py-2">{fmtTime(c.created_at)}</td>
                  <td className="px-3 py-2">{fmtTime(c.updated_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableScroll>
      )}
    </>
  );
}
