// The dashboard's entry point (bundled by tools/build-dashboard.mjs into build/dashboard/app.js).
import { render } from "preact";
import "uplot/dist/uPlot.min.css";
import "./styles.css";
import { App } from "./App.ts";
import { html } from "./html.ts";

render(html`<${App} />`, document.getElementById("app")!);
