import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { api, data } from "../api/client";
import { SeriesChart } from "../components/SeriesChart";
import { Card, ErrorState, Loading, PageTitle } from "../components/States";
import { Select, usePipelineNames } from "./Runs";

const metrics = {
  runs: "Runs",
  rows_written: "Rows written",
  rows_read: "Rows read",
  rows_quarantined: "Rows quarantined",
  failures: "Failed runs",
} as const;
type Metric = keyof typeof metrics;

const ranges = { "24h": 24, "7d": 24 * 7, "30d": 24 * 30 } as const;
type Range = keyof typeof ranges;

export function Analytics() {
  const [metric, setMetric] = useState<Metric>("rows_written");
  const [range, setRange] = useState<Range>("24h");
  const [pipeline, setPipeline] = useState("");
  const names = usePipelineNames();
  const bucket = range === "24h" ? "hour" : "day";
  const series = useQuery({
    queryKey: ["timeseries", metric, range, pipeline],
    queryFn: () => {
      const to = new Date();
      const from = new Date(to.getTime() - ranges[range] * 3600_000);
      return data(
        api.GET("/api/v1/analytics/timeseries", {
          params: { query: { metric, bucket, from: from.toISOString(), to: to.toISOString(), pipeline: pipeline || undefined } },
        }),
      );
    },
  });
  const title = `${metrics[metric]} per ${bucket}`;
  return (
    <>
      <PageTitle>Analytics</PageTitle>
      <form className="mb-4 flex flex-wrap gap-3" aria-label="Chart settings" onSubmit={(e) => e.preventDefault()}>
        <Select id="metric" label="Metric" value={metric} onChange={(v) => setMetric(v as Metric)}>
          {Object.entries(metrics).map(([k, v]) => (
            <option key={k} value={k}>
              {v}
            </option>
          ))}
        </Select>
        <Select id="range" label="Time range" value={range} onChange={(v) => setRange(v as Range)}>
          <option value="24h">Last 24 hours</option>
          <option value="7d">Last 7 days</option>
          <option value="30d">Last 30 days</option>
        </Select>
        <Select id="analytics-pipeline" label="Pipeline" value={pipeline} onChange={setPipeline}>
          <option value="">All pipelines</option>
          {[...(names.data ?? new Map<string, string>())].map(([id, name]) => (
            <option key={id} value={id}>
              {name}
            </option>
          ))}
        </Select>
      </form>
      <Card title={title}>
        {series.isPending ? (
          <Loading label="Loading the chart" />
        ) : series.isError ? (
          <ErrorState error={series.error} onRetry={() => series.refetch()} />
        ) : (
          <SeriesChart title={title} series={series.data} bucket={bucket} />
        )}
      </Card>
    </>
  );
}
