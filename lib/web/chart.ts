// Tickets per day as a small inline SVG bar chart: no script, no library, styled by the
// stylesheet (CSP allows no inline style). Each bar has a <title> for a tooltip and screen
// readers, and the numbers are also given as text next to the chart.
import { html, type Html } from "./html";

const DAY_MS = 86_400_000;

/** The last `days` calendar days (UTC) ending today, with counts from `perDay`. */
export function lastDays(perDay: Map<string, number>, days: number, today = new Date()): { day: string; count: number }[] {
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  const out: { day: string; count: number }[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const day = new Date(end - i * DAY_MS).toISOString().slice(0, 10);
    out.push({ day, count: perDay.get(day) ?? 0 });
  }
  return out;
}

export function dayChart(perDay: Map<string, number>, days = 30, today = new Date()): Html {
  const data = lastDays(perDay, days, today);
  const max = Math.max(1, ...data.map((d) => d.count));
  const total = data.reduce((sum, d) => sum + d.count, 0);
  const width = days * 10;
  const height = 60;
  const bars = data.map((d, i) => {
    const h = d.count === 0 ? 0 : Math.max(2, Math.round((d.count / max) * (height - 12)));
    return html`<rect class="bar" x="${i * 10 + 1}" y="${height - h}" width="8" height="${h}"><title>${d.day}: ${d.count} ticket${d.count === 1 ? "" : "s"}</title></rect>`;
  });
  return html`<figure class="chart">
<svg viewBox="0 0 ${width} ${height}" width="100%" height="${height}" preserveAspectRatio="none" role="img" aria-labelledby="chart-caption">
<line class="axis" x1="0" y1="${height - 0.5}" x2="${width}" y2="${height - 0.5}"></line>
${bars}
</svg>
<figcaption id="chart-caption">New tickets per day, last ${days} days (UTC): ${total} in all, at most ${max === 1 && total === 0 ? 0 : max} a day (${data[0]!.day} – ${data[data.length - 1]!.day}).</figcaption>
</figure>`;
}
