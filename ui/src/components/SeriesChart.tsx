import { Area, AreaChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { Schemas } from "../api/client";
import { fmtNumber } from "../api/format";

// SeriesChart draws one metric over time; the same figures are in a table
// for screen readers.
export function SeriesChart({ title, series, bucket }: { title: string; series: Schemas["TimeSeries"]; bucket: string }) {
  const points = (series.points ?? []).map((p) => ({
    label: new Date(p.start).toLocaleString("en-GB", bucket === "day" ? { dateStyle: "short" } : { hour: "2-digit", minute: "2-digit" }),
    value: p.value,
  }));
  return (
    <figure>
      <figcaption className="sr-only">{title}</figcaption>
      <div aria-hidden="true" className="h-56 w-full">
        <ResponsiveContainer width="100%" height="100%">
          <AreaChart accessibilityLayer={false} data={points} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid strokeDasharray="3 3" stroke="#cbd5e1" />
            <XAxis dataKey="label" tick={{ fill: "#334155", fontSize: 12 }} minTickGap={24} />
            <YAxis tick={{ fill: "#334155", fontSize: 12 }} allowDecimals={false} width={56} />
            <Tooltip />
            <Area type="monotone" dataKey="value" name={title} stroke="#0369a1" fill="#bae6fd" isAnimationActive={false} />
          </AreaChart>
        </ResponsiveContainer>
      </div>
      <table className="sr-only">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {points.map((p, i) => (
            <tr key={i}>
              <td>{p.label}</td>
              <td>{fmtNumber(p.value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
