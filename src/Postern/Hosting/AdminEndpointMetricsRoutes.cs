using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Postern.Telemetry;

namespace Postern.Hosting;

/// <summary>
/// <c>GET /metrics</c>: the gateway's meter in Prometheus text format (OpenTelemetry's Prometheus
/// exporter). The meter provider belongs to the admin server and is disposed with it; it listens
/// only to this gateway's <see cref="PosternMetrics.Meter"/>, so another gateway in the same process
/// (tests) has series of its own. Counts start when the admin endpoint starts.
/// </summary>
public sealed class AdminEndpointMetricsRoutes(PosternMetrics metrics) : IAdminEndpointRoutes
{
    public const string Path = "/metrics";

    public void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton(_ => Sdk.CreateMeterProviderBuilder()
            .AddMeter(PosternMetrics.MeterName)
            // Every gateway's meter is named "Postern"; keep the instruments of this one only.
            .AddView(instrument => ReferenceEquals(instrument.Meter, metrics.Meter) ? null : MetricStreamConfiguration.Drop)
            .AddPrometheusExporter(options =>
            {
                // A scrape always collects afresh (the default serves a copy up to 300 ms old).
                options.ScrapeResponseCacheDurationMilliseconds = 0;
                // The series names already say "postern_"; Prometheus adds job and instance itself.
                options.ScopeInfoEnabled = false;
                options.TargetInfoEnabled = false;
            })
            .Build());

    public void Map(IEndpointRouteBuilder routes)
    {
        // Resolved here, before the server starts, so instruments are measured from the start and
        // not from the first scrape.
        MeterProvider provider = routes.ServiceProvider.GetRequiredService<MeterProvider>();
        routes.MapPrometheusScrapingEndpoint(Path, provider, configureBranchedPipeline: null, optionsName: null);
    }
}
