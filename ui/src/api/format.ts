export function fmtNumber(n: number | undefined | null): string {
  return n == null ? "–" : n.toLocaleString("en-US");
}

export function fmtTime(s: string | undefined | null): string {
  if (!s) return "–";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

export function fmtDuration(seconds: number | undefined | null): string {
  if (seconds == null) return "–";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

export function fmtPercent(ratio: number | undefined | null): string {
  return ratio == null ? "–" : `${(ratio * 100).toFixed(ratio === 1 || ratio === 0 ? 0 : 1)} %`;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}
