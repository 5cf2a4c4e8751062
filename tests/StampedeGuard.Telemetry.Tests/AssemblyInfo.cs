
// The OpenTelemetry SDK listens to meters and activity sources by name, process-wide: one test at a time, so each
// test's exporter sees only its own cache's or server's telemetry.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
