/**
 * Beyond one host (issue 15): summaries that merge exactly without the traces
 * (`summarize`, `merge`), beside analyze. The columnar export for DuckDB and
 * Spark is an export (src/report/parquet.ts); docs/fleet.md has the recipes.
 */
export { summarize, type SummarizeOptions } from './summarize.js';
export { mergeSummaries, readSummary, summaryView, parseView, type ViewOptions } from './merge.js';
export { SummarySchema, MergeReportSchema, SUMMARY_VIEWS, type Summary, type SummaryRow, type SummaryView, type MergeReport } from './schema.js';
export { DistSchema, DistBuilder, mergeDist, distQuantile, distStddev, SKETCH_PARAMS, type Dist } from './sketch.js';
