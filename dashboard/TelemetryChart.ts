// A device's telemetry over the last hour (uPlot): one numeric member of its samples at a time, live as they come.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { html } from "./html.ts";

export interface Sample {
  at: string;
  data: Record<string, unknown>;
}

const HOUR_MS = 3600_000;

/** The numeric members of the samples (sys.info: uptime_ms, memory_used, ...). */
export function numericFields(samples: Sample[]): string[] {
  const names = new Set<string>();
  for (const s of samples) for (const [k, v] of Object.entries(s.data ?? {})) if (typeof v === "number") names.add(k);
  return [...names].sort();
}

export function TelemetryChart({ samples }: { samples: Sample[] }) {
  const fields = numericFields(samples);
  const [field, setField] = useState("");
  const shown = fields.includes(field) ? field : (fields.find((f) => f === "memory_used") ?? fields[0] ?? "");
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || !shown) return;
    const since = Date.now() - HOUR_MS;
    const recent = samples.filter((s) => Date.parse(s.at) >= since);
    const data: uPlot.AlignedData = [
      recent.map((s) => Date.parse(s.at) / 1000),
      recent.map((s) => (typeof s.data[shown] === "number" ? (s.data[shown] as number) : null)),
    ];
    const width = () => Math.max(240, el.clientWidth);
    if (plot.current && plot.current.series[1]?.label === shown) {
      plot.current.setData(data);
      return;
    }
    plot.current?.destroy();
    plot.current = new uPlot(
      {
        width: width(),
        height: 220,
        series: [{}, { label: shown, stroke: "#2563eb", width: 2, spanGaps: true }],
        scales: { x: { time: true } },
        axes: [{}, { size: 70 }],
        legend: { show: true },
      },
      data,
      el,
    );
  }, [samples, shown]);
  useEffect(() => {
    const el = box.current;
    const resize = new ResizeObserver(() => el && plot.current?.setSize({ width: Math.max(240, el.clientWidth), height: 220 }));
    if (el) resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
  }, []);

  // The plot's element is always there (uPlot draws into it once samples come).
  return html`
    <div class="chart">
      ${
        fields.length
          ? html`<label>Series <select value=${shown} onChange=${(e: any) => setField(e.currentTarget.value)}>${fields.map((f) => html`<option value=${f}>${f}</option>`)}</select></label>`
          : html`<p class="hint">No telemetry in the last hour (a device publishes it every few seconds when started with <code>--telemetry MS</code>).</p>`
      }
      <div ref=${box} class="plot" data-samples=${samples.length}></div>
    </div>
  `;
}
