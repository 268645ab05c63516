/** The HTML report: collect (one read of the inputs) and render (one self-contained page). */
export { collectHtmlReport, type HtmlReportOptions } from './collect.js';
export { renderHtmlReport, loadAssets, type PageAssets } from './page.js';
export { HtmlReportSchema, type HtmlReport } from './schema.js';
