"""Pure aggregation: records to per-minute points, histograms, routes and time windows."""
